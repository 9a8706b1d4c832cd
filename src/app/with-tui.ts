import {createLogger} from '../adapters/logging/pino-logger.js'
import type {LogLevel} from '../core/config/config-types.js'
import type {Logger} from '../core/logger.js'
import type {Redactor} from '../core/redact.js'
import type {Daemon} from './daemon.js'

/** What a command that shows a daemon gets: its logger, and the live view when there is one. */
export interface UiSession {
  logger: Logger
  /** Writes out what the logger holds (before `process.exit`). */
  flush(): void
  /** Where the log goes while the TUI owns the screen; undefined without a TUI. */
  logFile?: string
  /**
   * Shows the live view of `daemon` (no-op without a TUI). `onQuit`: first q / Ctrl-C; `onForce`:
   * the second. Returns what hands the terminal back.
   */
  mount(daemon: Daemon, handlers: {onQuit: () => void; onForce: () => void}): {unmount(): Promise<void>}
  /** Shows the live view until the daemon is stopped from the keyboard or `stopped`; then stops it. */
  runUntilStopped(daemon: Daemon, o: {onForce: () => void; stopped: Promise<string>}): Promise<string>
}

export interface TuiOptions {
  /** The TUI was asked for; it is shown only on a terminal. */
  wanted: boolean
  /** The log file while the TUI owns the screen. */
  logFile: string
  level: LogLevel
  redactor: Redactor
  /** journald's priorities on the log lines when no TUI (see `journaldWanted`). */
  journald?: boolean
  /** Says that the TUI was asked for without a terminal. */
  warn(message: string): void
}

/**
 * The one way commands get a logger and, on a terminal, the TUI: the TUI and Ink are loaded only
 * when shown, the log goes to `logFile` meanwhile (its warnings to the events panel), and the log
 * is flushed when `body` ends, whatever happens.
 */
export async function withTui<T>(o: TuiOptions, body: (ui: UiSession) => Promise<T>): Promise<T> {
  const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY)
  if (o.wanted && !tty) o.warn('warning: --tui needs a terminal; showing plain log lines instead')
  const tui = o.wanted && tty ? await import('../tui/start-tui.js') : undefined
  const model = tui ? new (await import('../tui/tui-model.js')).TuiModel() : undefined
  const destination = tui && model ? tui.tuiLogDestination(o.logFile, model) : undefined
  const {logger, flush} = createLogger({
    level: o.level,
    pretty: !destination && Boolean(process.stderr.isTTY),
    journald: !destination && (o.journald ?? false),
    redactor: o.redactor,
    ...(destination ? {destination} : {}),
  })
  const session: UiSession = {
    logger,
    flush,
    ...(destination ? {logFile: o.logFile} : {}),
    mount: (daemon, handlers) => (tui && model ? tui.mountTui(daemon, model, handlers) : {unmount: async () => {}}),
    runUntilStopped: async (daemon, r) => {
      if (tui && model) return tui.runTui(daemon, model, r)
      const reason = await r.stopped
      await daemon.stop(reason)
      return reason
    },
  }
  try {
    return await body(session)
  } finally {
    flush()
  }
}
