import {existsSync} from 'node:fs'

import {Errors, type Hook} from '@oclif/core'

import {didYouMean} from '../core/config/did-you-mean.js'

/**
 * The original was run as `heptapod-paas-runner CONFIG [-l INFO]` (systemd units in the wild do
 * this): a first word that is no command but a file, a path or an option runs the daemon, as
 * `run CONFIG`. Any other unknown word is a mistyped command.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  const {id, argv = []} = opts
  // oclif joins the words of a topic separated by spaces with ':'; a path never had one.
  const word = id.replaceAll(':', ' ')
  if (word.startsWith('-') || /[./\\]/.test(word) || existsSync(word)) {
    return this.config.runCommand('run', [word, ...argv])
  }
  const hint = didYouMean(word, this.config.commandIDs)
  throw new Errors.CLIError(
    `command '${word}' not found${hint ? `; did you mean '${hint.replaceAll(':', ' ')}'?` : ''}. To run the daemon: ${this.config.bin} run CONFIG (or ${this.config.bin} CONFIG)`,
    {exit: 2},
  )
}

export default hook
