import {Box, Text} from 'ink'

/** Lines the help box takes, borders included (the layout reserves them). */
export const HELP_HEIGHT = 7

export function HelpOverlay() {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>keys</Text>
      <Text wrap="truncate-end">{'q, Ctrl-C   graceful shutdown (press again to force)'}</Text>
      <Text wrap="truncate-end">{'p          pause or resume intake'}</Text>
      <Text wrap="truncate-end">{'↑ ↓        select a job; Enter shows its details, Esc closes'}</Text>
      <Text wrap="truncate-end">{'?          this help'}</Text>
    </Box>
  )
}
