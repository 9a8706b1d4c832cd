import {Box, Text} from 'ink'

export function HelpOverlay() {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>keys</Text>
      <Text>q, Ctrl-C   graceful shutdown (press again to force)</Text>
      <Text>p          pause or resume intake</Text>
      <Text>↑ ↓        select a job; Enter shows its details, Esc closes</Text>
      <Text>?          this help</Text>
    </Box>
  )
}
