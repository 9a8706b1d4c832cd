import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import type {DispatcherSnapshot} from '../../src/core/events.js'
import type {JobPhase} from '../../src/core/state/job-record.js'
import {App, type TuiSource} from '../../src/tui/App.js'
import {EventsPanel} from '../../src/tui/EventsPanel.js'
import {Gauges} from '../../src/tui/Gauges.js'
import {Header} from '../../src/tui/Header.js'
import {JobTable} from '../../src/tui/JobTable.js'
import {fitLayout, layoutHeight} from '../../src/tui/layout.js'
import {bar, sortedJobs, TuiModel} from '../../src/tui/tui-model.js'
import {waitUntil} from '../helpers/wait.js'

const T0 = Date.parse('2026-11-28T10:00:00Z')

function snapshot(over: Partial<DispatcherSnapshot> = {}): DispatcherSnapshot {
  return {
    at: T0 + 125_000,
    startedAt: T0,
    quota: {total: 67, explanation: 'weight of 3 jobs with flavor L', used: 0, reserved: 0},
    concurrent: {limit: 20, used: 0},
    provisioning: {limit: 5, used: 0},
    runners: [
      {
        runner: 'glrt-abc',
        name: 'clever',
        url: 'https://gitlab.example',
        executor: 'clever-docker',
        intake: {state: 'long-polling'},
        minRequestableWeight: 22.3,
      },
    ],
    jobs: [],
    pendingDeletions: 0,
    unmarkedResources: [],
    orphansMarked: 0,
    keptResources: 0,
    totals: {acquired: 0, launched: 0, finished: 0, launchFailed: 0, decommissioned: 0},
    recentFailures: [],
    stopping: false,
    ...over,
  }
}

const job = (jobId: number, phase: JobPhase, flavor: string, weight: number) => ({
  runner: 'glrt-abc',
  runnerName: 'clever',
  jobId,
  projectId: 42,
  projectName: 'widgets',
  phase,
  flavor,
  weight,
  acquiredAt: T0,
  phaseSince: T0 + 100_000,
  resourceId: `app_${jobId}`,
  deleteAttempts: 0,
  failure: null,
})

const busy = snapshot({
  quota: {total: 67, explanation: null, used: 30.4, reserved: 0},
  concurrent: {limit: 20, used: 3},
  provisioning: {limit: 5, used: 1},
  jobs: [job(12, 'running', 'L', 22.3), job(10, 'decommissioning', 'XS', 2.4), job(11, 'launching', 'S', 5.7)],
  totals: {acquired: 5, launched: 4, finished: 1, launchFailed: 1, decommissioned: 1},
})

describe('TUI components', () => {
  it('header: coordinators with their state, uptime and totals', () => {
    const {lastFrame} = render(<Header snapshot={busy} operatorPaused={false} />)
    expect(lastFrame()).toContain('up 2m05s · launched 4 · finished 1 · failed 1')
    expect(lastFrame()).toContain('clever https://gitlab.example long-polling')
  })

  it('header: the paused-intake reason, a backoff with its next try, operator pause', () => {
    const s = snapshot({
      runners: [
        {
          runner: 'a',
          name: 'a',
          url: 'https://a',
          executor: 'x',
          intake: {
            state: 'paused',
            reason: 'quota 71.3/76.1 used; largest flavor needs 13.5',
            blocker: {kind: 'quota', used: 71.3, total: 76.1, needs: 13.5},
          },
          minRequestableWeight: 13.5,
        },
        {
          runner: 'b',
          name: 'b',
          url: 'https://b',
          executor: 'x',
          intake: {state: 'backoff', reason: 'POST /jobs/request: 503', until: T0 + 125_000 + 30_000},
          minRequestableWeight: 13.5,
        },
      ],
    })
    const f = render(<Header snapshot={s} operatorPaused />).lastFrame()!
    expect(f).toContain('paused: quota 71.3/76.1 used; largest flavor needs 13.5')
    expect(f).toContain('backing off (POST /jobs/request: 503); next try in 30s')
    expect(f).toContain('INTAKE PAUSED (p to resume)')
  })

  it('gauges: quota with its split by flavor, jobs and provisioning', () => {
    const f = render(<Gauges snapshot={busy} width={100} />).lastFrame()!
    expect(f).toContain(`quota        ${bar(30.4, 67, 30)} 30.4/67.0  L 22.3  S 5.7  XS 2.4`)
    expect(f).toContain(`jobs         ${bar(3, 20, 30)} 3/20`)
    expect(f).toContain(`provisioning ${bar(1, 5, 30)} 1/5`)
  })

  it('job table: sorted by phase, an empty state, and a compact form below 80 columns', () => {
    expect(render(<JobTable snapshot={snapshot()} selected={0} width={100} maxRows={10} />).lastFrame()).toContain(
      'no job: waiting for work',
    )
    const wide = render(<JobTable snapshot={busy} selected={0} width={120} maxRows={10} />)
      .lastFrame()!
      .split('\n')
    expect(wide[0]).toMatch(/JOB\s+RUNNER\s+PROJECT\s+FLAVOR\s+WEIGHT\s+PHASE\s+IN PHASE\s+RESOURCE/)
    expect(wide.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['11', '12', '10'])
    expect(wide[1]).toMatch(/11\s+clever\s+widgets\s+S\s+5\.7\s+pushing\s+25s\s+app_11/)
    const narrow = render(<JobTable snapshot={busy} selected={0} width={60} maxRows={10} />).lastFrame()!
    expect(narrow).toMatch(/JOB\s+FLV\s+PHASE\s+TIME/)
    expect(narrow).not.toContain('app_11')
  })

  it('events panel: latest warnings and errors, and recently done jobs', () => {
    const m = new TuiModel()
    expect(render(<EventsPanel events={m.events} history={m.history} rows={5} />).lastFrame()).toContain(
      'nothing to report',
    )
    m.onEvent({type: 'launch-failed', runner: 'r', jobId: 7, reason: 'git push refused', at: T0})
    m.onEvent({type: 'job-phase', runner: 'r', jobId: 7, phase: 'gone', weight: 0, at: T0})
    m.onEvent({
      type: 'delete-retry',
      runner: 'r',
      jobId: 8,
      resourceId: 'app_8',
      attempt: 2,
      error: '503',
      nextAt: T0,
      at: T0,
    })
    const f = render(<EventsPanel events={m.events} history={m.history} rows={5} />).lastFrame()!
    expect(f).toContain('job 7: launch failed: git push refused')
    expect(f).toContain('job 8: deleting app_8 failed (attempt 2), retrying: 503')
    expect(f).toContain('recently done: 7 launch failed')
  })

  it('sorts jobs by phase', () => {
    expect(sortedJobs(busy).map((j) => j.phase)).toEqual(['launching', 'running', 'decommissioning'])
  })
})

describe('TUI app: keys', () => {
  function source(s: DispatcherSnapshot) {
    const calls: string[] = []
    let paused = false
    const model = new TuiModel()
    model.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 12, phase: 'running', weight: 22.3, at: T0 + 1000})
    model.onLog('info', 'job 12: job launched', T0 + 900, 12)
    const src: TuiSource = {
      snapshot: () => s,
      model,
      paused: () => paused,
      setPaused: (p) => {
        paused = p
        calls.push(`paused=${p}`)
      },
      quit: () => void calls.push('quit'),
    }
    return {src, calls}
  }

  it("p pauses intake, ? shows help, arrows and Enter show a job's details, q quits", async () => {
    const {src, calls} = source(busy)
    const ui = render(<App source={src} intervalMs={20} />)
    const frame = () => ui.lastFrame() ?? ''
    await waitUntil(() => frame().includes('RESOURCE'), 5000, 'first frame')
    await waitUntil(() => frame().includes('RESOURCE') && !!ui.stdin, 1000)
    // Each key is pressed once, once Ink listens: p, ? and Enter toggle, so pressing until the
    // effect shows could toggle it back on a slow machine.
    await waitUntil(() => ui.stdin.listenerCount('readable') > 0, 5000, 'keyboard listened to')
    const press = async (k: string, until: () => boolean, what: string) => {
      ui.stdin.write(k)
      await waitUntil(until, 5000, what)
    }
    await press('p', () => calls.includes('paused=true'), 'pause')
    expect(calls.filter((c) => c.startsWith('paused='))).toEqual(['paused=true'])
    await waitUntil(() => frame().includes('INTAKE PAUSED'), 5000, 'paused banner')
    await press('?', () => frame().includes('graceful shutdown (press again to force)'), 'help')
    // Help closed (Escape), then the next key waits for a re-render: Enter opens the row selected
    // at the last render, and a slow machine may not have drawn the arrow's move yet.
    await press('\u001B', () => !frame().includes('graceful shutdown (press again to force)'), 'help closed')
    const drawn = ui.frames.length
    await press('\u001B[B', () => ui.frames.length >= drawn + 2, 'down drawn')
    await press('\r', () => frame().includes('job 12 · runner clever · project widgets'), 'details')
    expect(frame()).toContain('last log lines')
    expect(frame()).toContain('job 12: job launched')
    expect(frame()).not.toMatch(/glcbt-|token/i)
    await press('q', () => calls.includes('quit'), 'quit')
    ui.unmount()
  })
})

describe('TUI: it fits the terminal', () => {
  const many = (n: number, phase: JobPhase = 'running') =>
    Array.from({length: n}, (_, i) => job(100 + i, phase, 'M', 13.5))
  const crowded = snapshot({
    quota: {total: 152.2, explanation: null, used: 148.5, reserved: 13.5},
    concurrent: {limit: 50, used: 11},
    provisioning: {limit: 10, used: 2},
    runners: [
      {
        runner: 'glrt-abc',
        name: 'clever',
        url: 'https://gitlab.example.com/a/very/long/path/that/goes/on',
        executor: 'clever-docker',
        intake: {
          state: 'paused',
          reason: 'quota 148.5/152.2 used; largest flavor needs 76.1',
          blocker: {kind: 'quota', used: 148.5, total: 152.2, needs: 76.1},
        },
        minRequestableWeight: 76.1,
      },
      {
        runner: 'glrt-def',
        name: 'second',
        url: 'https://other.example',
        executor: 'clever-docker',
        intake: {state: 'long-polling'},
        minRequestableWeight: 13.5,
      },
    ],
    jobs: [...many(11), job(7, 'decommissioning', 'XS', 2.4)],
    totals: {acquired: 40, launched: 38, finished: 30, launchFailed: 2, decommissioned: 30},
  })

  function sourceOf(s: DispatcherSnapshot, model = new TuiModel()) {
    for (let i = 0; i < 12; i++)
      model.onEvent({
        type: 'delete-retry',
        runner: 'glrt-abc',
        jobId: 7,
        resourceId: `app_${i}`,
        attempt: i,
        error: '503',
        nextAt: T0,
        at: T0 + i,
      })
    for (let i = 0; i < 30; i++)
      model.onEvent({
        type: 'job-phase',
        runner: 'glrt-abc',
        jobId: 100,
        phase: i % 2 ? 'running' : 'launched',
        weight: 13.5,
        at: T0 + i * 1000,
      })
    model.onLog('info', 'job 100: job launched', T0, 100)
    const src: TuiSource = {snapshot: () => s, model, paused: () => false, setPaused: () => {}, quit: () => {}}
    return src
  }

  async function frameAt(columns: number, rows: number, keys: Array<[string, RegExp]>) {
    const ui = render(<App source={sourceOf(crowded)} intervalMs={20} size={{columns, rows}} />)
    const frame = () => ui.lastFrame() ?? ''
    await waitUntil(() => frame().includes('heptapod-paas-runner'), 5000, 'first frame')
    await new Promise((r) => setTimeout(r, 50)) // the input handler is set after the first frame
    for (const [k, shows] of keys) {
      ui.stdin.write(k)
      await waitUntil(() => shows.test(frame()), 5000, `key ${JSON.stringify(k)}`)
    }
    const f = frame()
    ui.unmount()
    return f
  }

  for (const [columns, rows] of [
    [80, 24],
    [120, 40],
  ] as const) {
    it(`${columns}×${rows} with ? and the details open: no line wider than the screen, the header and the box titles in view`, async () => {
      const f = await frameAt(columns, rows, [
        ['?', /this help/],
        ['\r', /job 100 · runner/],
      ])
      const lines = f.split('\n')
      if (process.env.SHOW_FRAMES) console.log(f)
      expect(lines.length).toBeLessThanOrEqual(rows - 1)
      for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(columns)
      expect(lines[0]).toContain('heptapod-paas-runner up')
      expect(f).toContain('keys') // the help box's title
      expect(f).toMatch(/job 100 · runner clever · project widgets/) // the details box's title
      expect(f).toContain('q quit · p pause intake')
      expect(f).toMatch(/quota\s+\[[#.]+\] 148\.5\/152\.2/)
    })
  }

  it('the layout never uses more than rows - 1 lines, from 10 rows to 60, with any mix of panels', () => {
    for (let rows = 10; rows <= 60; rows++) {
      for (const help of [undefined, 7]) {
        for (const details of [undefined, {fixed: 5, timeline: 20, logs: 6}]) {
          const w = {
            rows,
            runners: 3,
            jobs: 40,
            events: 50,
            history: true,
            ...(help ? {help} : {}),
            ...(details ? {details} : {}),
          }
          const l = fitLayout(w)
          expect(layoutHeight(l, w), JSON.stringify({rows, help, details})).toBeLessThanOrEqual(rows - 1)
          if (rows >= 24)
            expect(l.gauges && l.tableRows >= 1 && (!help || l.help) && (!details || l.details !== undefined)).toBe(
              true,
            )
        }
      }
    }
    // Rows collapse before panels: at 24 rows the events panel is still there, with fewer rows.
    expect(fitLayout({rows: 24, runners: 1, jobs: 40, events: 50, history: true})).toMatchObject({
      gauges: true,
      events: true,
      spacers: true,
    })
    expect(fitLayout({rows: 40, runners: 1, jobs: 40, events: 50, history: true}).tableRows).toBeGreaterThan(
      fitLayout({rows: 24, runners: 1, jobs: 40, events: 50, history: true}).tableRows,
    )
  })

  it('the details box follows its job when the table re-sorts', async () => {
    let s = snapshot({jobs: [job(10, 'running', 'S', 5.7), job(11, 'running', 'S', 5.7), job(12, 'running', 'S', 5.7)]})
    const src: TuiSource = {
      snapshot: () => s,
      model: new TuiModel(),
      paused: () => false,
      setPaused: () => {},
      quit: () => {},
    }
    const ui = render(<App source={src} intervalMs={20} size={{columns: 120, rows: 40}} />)
    const frame = () => ui.lastFrame() ?? ''
    await waitUntil(() => frame().includes('RESOURCE'), 5000, 'first frame')
    await new Promise((r) => setTimeout(r, 50)) // the input handler is set after the first frame
    ui.stdin.write('\u001B[B')
    await new Promise((r) => setTimeout(r, 50))
    ui.stdin.write('\r')
    await waitUntil(() => frame().includes('job 11 · runner'), 5000, 'details of 11')
    // Job 10 moves to deleting (sorted last): row 2 is now job 12, the box still shows 11.
    s = snapshot({
      jobs: [job(10, 'decommissioning', 'S', 5.7), job(11, 'running', 'S', 5.7), job(12, 'running', 'S', 5.7)],
    })
    await waitUntil(() => /12\s+clever[\s\S]*10\s+clever/.test(frame()), 5000, 'resorted')
    expect(frame()).toContain('job 11 · runner')
    // Job 11 leaves: the box says it is over, with how it ended.
    src.model.onEvent({type: 'job-finished', runner: 'glrt-abc', jobId: 11, status: 'canceled', at: T0})
    src.model.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 11, phase: 'gone', weight: 0, at: T0})
    s = snapshot({jobs: [job(10, 'decommissioning', 'S', 5.7), job(12, 'running', 'S', 5.7)]})
    await waitUntil(() => frame().includes('over: canceled'), 5000, 'over')
    expect(frame()).toContain('job 11 · runner clever')
    ui.unmount()
  })
})

describe('TUI: events', () => {
  it('a repeated state is one line with a count; runners are named as in the table; canceled jobs are canceled', () => {
    const m = new TuiModel()
    for (let i = 0; i < 5; i++)
      m.onEvent({
        type: 'intake',
        runner: 'glrt-abc',
        intake: {
          state: 'paused',
          reason: `quota ${70 + i}.0/76.1 used; largest flavor needs 13.5`,
          blocker: {kind: 'quota', used: 70 + i, total: 76.1, needs: 13.5},
        },
        at: T0 + i,
      })
    m.onEvent({type: 'launch-failed', runner: 'glrt-abc', jobId: 9, reason: 'git push refused', at: T0 + 10})
    m.onEvent({
      type: 'intake',
      runner: 'glrt-abc',
      intake: {
        state: 'paused',
        reason: 'quota 75.0/76.1 used; largest flavor needs 13.5',
        blocker: {kind: 'quota', used: 75, total: 76.1, needs: 13.5},
      },
      at: T0 + 11,
    })
    expect(m.events.map((e) => [e.text, e.count])).toEqual([
      ['job 9: launch failed: git push refused', 1],
      ['intake paused: quota 75.0/76.1 used; largest flavor needs 13.5', 6],
    ])
    m.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 9, phase: 'gone', weight: 0, at: T0})
    m.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 5, phase: 'finished', weight: 0, at: T0, canceled: true})
    m.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 5, phase: 'gone', weight: 0, at: T0})
    m.onEvent({type: 'job-finished', runner: 'glrt-abc', jobId: 6, status: 'canceled', at: T0})
    m.onEvent({type: 'job-phase', runner: 'glrt-abc', jobId: 6, phase: 'gone', weight: 0, at: T0})
    const f = render(
      <EventsPanel events={m.events} history={m.history} rows={5} names={new Map([['glrt-abc', 'clever']])} />,
    ).lastFrame()!
    expect(f).toContain('clever: intake paused: quota 75.0/76.1 used; largest flavor needs 13.5 (×6)')
    expect(f).not.toContain('glrt-abc')
    expect(f).toContain('recently done: 9 launch failed · 5 canceled · 6 canceled')
  })
})
