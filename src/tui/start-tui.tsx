import {createWriteStream} from 'node:fs'
import {Writable} from 'node:stream'

import {render} from 'ink'

import type {Daemon} from '../app/daemon.js'
import {App} from './App.js'
import {type TuiModel} from './tui-model.js'

/**
 * A log destination for while the TUI owns the screen: every line goes to `file`, and warnings
 * and errors also to the TUI's events panel.
 */
export function tuiLogDestination(file: string, model: TuiModel): NodeJS.WritableStream {
  const out = createWriteStream(file, {flags: 'a', mode: 0o600})
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.write(chunk)
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        try {
          const j = JSON.parse(line) as {
            level: number
            msg: string
            time?: string
            job?: number
            reason?: string
            error?: string
          }
          if (j.level >= 30) {
            const detail = j.reason ?? j.error
            const level = j.level >= 50 ? 'error' : j.level >= 40 ? 'warn' : 'info'
            model.onLog(
              level,
              `${j.job === undefined ? '' : `job ${j.job}: `}${j.msg}${detail ? `: ${detail}` : ''}`,
              j.time ? Date.parse(j.time) : Date.now(),
              j.job,
            )
          }
        } catch {
          // not JSON: file only
        }
      }
      cb()
    },
  })
}

/** Mounts the live view of a daemon. `onQuit` is called on the first q / Ctrl-C, `onForce` on the second. */
export function mountTui(
  daemon: Daemon,
  model: TuiModel,
  o: {onQuit: () => void; onForce: () => void},
): {unmount(): Promise<void>} {
  const unsubscribe = daemon.dispatcher.events.on((e) => model.onEvent(e))
  const restoreWarnings = routeProcessWarnings((w) => model.onLog('warn', `${w.name}: ${w.message}`, Date.now()))
  let quitting = false
  const app = render(
    <App
      source={{
        snapshot: () => daemon.dispatcher.snapshot(),
        model,
        paused: () => daemon.dispatcher.intakePaused,
        setPaused: (p) => daemon.dispatcher.setIntakePaused(p),
        quit: () => {
          if (quitting) o.onForce()
          else {
            quitting = true
            o.onQuit()
          }
        },
      }}
    />,
    {exitOnCtrlC: false, patchConsole: true},
  )
  return {
    async unmount() {
      // One last frame showing the stop, then hand the terminal back.
      await new Promise((r) => setTimeout(r, 150))
      app.unmount()
      unsubscribe()
      restoreWarnings()
    },
  }
}

/**
 * While the TUI owns the screen, Node's process warnings (printed to stderr by a listener Node
 * installs at start-up) go to the events panel instead of being printed over the frame.
 * Returns the function that puts Node's listeners back.
 */
export function routeProcessWarnings(to: (w: Error) => void): () => void {
  const previous = process.listeners('warning')
  process.removeAllListeners('warning')
  process.on('warning', to)
  return () => {
    process.off('warning', to)
    for (const l of previous) process.on('warning', l)
  }
}

/** Shows the live view until the daemon is stopped from the keyboard or from outside; then stops it. */
export async function runTui(
  daemon: Daemon,
  model: TuiModel,
  opts: {onForce: () => void; stopped: Promise<string>},
): Promise<string> {
  let resolveQuit!: (why: string) => void
  const quitRequested = new Promise<string>((r) => (resolveQuit = r))
  const ui = mountTui(daemon, model, {onQuit: () => resolveQuit('q pressed'), onForce: opts.onForce})
  const reason = await Promise.race([quitRequested, opts.stopped])
  await daemon.stop(reason)
  await ui.unmount()
  return reason
}
