import {fstatSync} from 'node:fs'
import {Writable} from 'node:stream'

import pino from 'pino'

import type {LogLevel} from '../../core/config/config-types.js'
import type {Logger} from '../../core/logger.js'
import type {Redactor} from '../../core/redact.js'

export interface LoggerOptions {
  level: LogLevel
  /** Readable lines (a TTY) instead of JSON (journald, files, pipes). */
  pretty: boolean
  redactor: Redactor
  /** Where lines go; stderr by default. */
  destination?: NodeJS.WritableStream
  /** Start each line with its syslog priority (`<4>`…), for journald (see `journaldWanted`). */
  journald?: boolean
}

const LEVEL_NAMES: Record<number, string> = {10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL'}

/**
 * pino behind the core's Logger port. Redaction is structural: every message and every field
 * goes through the redactor before pino sees it, so no call site can leak a token.
 */
export function createLogger(o: LoggerOptions): {logger: Logger; flush(): void} {
  const dest = o.destination ?? process.stderr
  const stream = o.pretty ? prettyStream(dest, o.journald ?? false) : o.journald ? journaldStream(dest) : dest
  const p = pino(
    {level: o.level, base: {pid: process.pid}, timestamp: pino.stdTimeFunctions.isoTime},
    stream as pino.DestinationStream,
  )
  return {logger: wrap(p, o.redactor), flush: () => p.flush?.()}
}

function wrap(p: pino.Logger, r: Redactor): Logger {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    if (!p.isLevelEnabled(level)) return
    if (fields && Object.keys(fields).length > 0) p[level](r.redactValue(normalise(fields)), r.redact(msg))
    else p[level](r.redact(msg))
  }
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => wrap(p.child(r.redactValue(b)), r),
  }
}

/** Errors become their message: a stack or a cause could carry a URL with credentials. */
function normalise(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue
    out[k] = v instanceof Error ? v.message : v
  }
  return out
}

/**
 * True when stderr is the journal: systemd sets `JOURNAL_STREAM` to the device and inode of the
 * stream it gave us; a redirected stderr (a child's, a file) no longer matches, as sd-daemon says.
 */
export function journaldWanted(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const want = env.JOURNAL_STREAM
  if (!want) return false
  try {
    const st = fstatSync(fd)
    return want === `${st.dev}:${st.ino}`
  } catch {
    return false
  }
}

/** pino level → syslog priority: trace and debug 7, info 6, warn 4, error 3, fatal 2. */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2
  if (level >= 50) return 3
  if (level >= 40) return 4
  if (level >= 30) return 6
  return 7
}

/** JSON lines, each prefixed with `<priority>` so `journalctl -p warning` works. */
function journaldStream(dest: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      let out = ''
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        out += `<${priorityOf(line)}>${line}\n`
      }
      dest.write(out)
      cb()
    },
  })
}

function priorityOf(jsonLine: string): number {
  const m = /"level":(\d+)/.exec(jsonLine)
  return syslogPriority(m ? Number(m[1]) : 30)
}

/** `2026-11-28T10:00:00.000Z INFO  job acquired runner=abc job=12` */
function prettyStream(dest: NodeJS.WritableStream, journald = false): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        try {
          const {time, level, msg, pid: _pid, ...rest} = JSON.parse(line) as Record<string, unknown>
          void _pid
          const extra = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ')
          const prefix = journald ? `<${syslogPriority(level as number)}>` : ''
          dest.write(
            `${prefix}${String(time)} ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)} ${String(msg)}${extra ? ` ${extra}` : ''}\n`,
          )
        } catch {
          dest.write(`${line}\n`)
        }
      }
      cb()
    },
  })
}
