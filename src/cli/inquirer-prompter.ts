import type {Prompter} from './register.js'

/** Prompts with @inquirer/prompts (loaded only when prompting). */
export async function inquirerPrompter(context?: {
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
}): Promise<Prompter> {
  const {input, password, select} = await import('@inquirer/prompts')
  const v =
    (f?: (s: string) => string | undefined) =>
    (s: string): string | true =>
      f?.(s) ?? true
  return {
    input: (message, o = {}) =>
      input({message, ...(o.default ? {default: o.default} : {}), validate: v(o.validate)}, context as never),
    secret: (message, o = {}) => password({message, mask: '*', validate: v(o.validate)}, context as never),
    choice: (message, choices, o = {}) =>
      select(
        {
          message,
          choices: choices.map((c) => ({name: c.name, value: c.value})),
          ...(o.default === undefined ? {} : {default: o.default}),
        },
        context as never,
      ),
  }
}
