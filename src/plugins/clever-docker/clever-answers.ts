import {z} from 'zod'

/**
 * Schemas of the Clever Cloud API answers we read (clever-api.md §3). Only the fields we use
 * are checked; the rest passes through. An answer that does not fit fails that call with one
 * line naming the fields, never a validation dump.
 */
const flavorWire = z.looseObject({name: z.string(), mem: z.number(), cpus: z.number(), available: z.boolean()})
export const flavorsAnswer = z.array(flavorWire)

const runtimeWire = z.looseObject({
  type: z.string().optional(),
  version: z.string(),
  name: z.string(),
  enabled: z.boolean().optional(),
  variant: z.looseObject({slug: z.string()}).optional(),
})
export const instancesAnswer = z.array(runtimeWire)

/** An application as listed: enough to recognise it and delete it. */
const appWire = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  /** Our ownership marker lives here (owner-marker.ts); anything else in it is someone else's text. */
  description: z.string().optional().catch(undefined),
  instance: z
    .looseObject({
      maxFlavor: z
        .looseObject({name: z.string().optional(), mem: z.number().optional(), cpus: z.number().optional()})
        .optional(),
    })
    .optional(),
  deployment: z
    .looseObject({repoState: z.string().optional(), httpUrl: z.string().optional(), url: z.string().optional()})
    .optional(),
  deployUrl: z.string().optional(),
  state: z.string().optional(),
})
export const appsAnswer = z.array(appWire)
/** `GET …/applications/{id}`: the deployment state is what we wait on. */
export const appAnswer = appWire.extend({
  deployment: z.looseObject({repoState: z.string(), httpUrl: z.string().optional(), url: z.string().optional()}),
})
/** A create answer must say what was created and how heavy it is. */
export const createdAppAnswer = appWire.extend({
  instance: z.looseObject({
    maxFlavor: z.looseObject({name: z.string(), mem: z.number().positive(), cpus: z.number().optional()}),
  }),
})

export type CleverFlavorWire = z.infer<typeof flavorWire>
export type CleverRuntimeWire = z.infer<typeof runtimeWire>
export type CleverAppWire = z.infer<typeof appWire>

/** `instance.maxFlavor.mem: expected number; id: required` — one line, paths first, at most a few. */
export function describeAnswerIssues(error: z.ZodError): string {
  const parts = error.issues
    .slice(0, 4)
    .map((i) => `${i.path.length ? i.path.join('.') : 'answer'}: ${i.message.split('\n')[0]}`)
  return parts.join('; ') + (error.issues.length > 4 ? `; and ${error.issues.length - 4} more` : '')
}
