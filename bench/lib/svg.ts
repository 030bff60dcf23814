/**
 * A minimal horizontal bar chart as a standalone SVG string: one bar per
 * contender (the median), a whisker for the min–max range, the value printed
 * at the end of the bar. Linear or log10 scale. No dependencies.
 */

export interface Bar {
  readonly label: string
  readonly value: number
  readonly min?: number | undefined
  readonly max?: number | undefined
  /** Text printed after the bar (default: the value). */
  readonly text?: string | undefined
  readonly highlight?: boolean | undefined
}

export interface BarChartOptions {
  readonly title: string
  readonly bars: ReadonlyArray<Bar>
  readonly log?: boolean | undefined
  readonly width?: number | undefined
  /** Formats axis tick values. */
  readonly tick?: ((value: number) => string) | undefined
}

const escape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** "Nice" linear ticks from 0 to at least `max`. */
const linearTicks = (max: number): Array<number> => {
  if (!(max > 0)) return [0, 1]
  const raw = max / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const ticks: Array<number> = []
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(t)
  return ticks
}

const defaultTick = (v: number): string => {
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`
  return `${+v.toPrecision(3)}`
}

export const barChart = (options: BarChartOptions): string => {
  const width = options.width ?? 800
  const bars = options.bars.filter((b) => Number.isFinite(b.value))
  // ~7 px per character at 12 px Helvetica, so long labels are not cut off
  const labelWidth = Math.max(120, Math.ceil(Math.max(...bars.map((b) => b.label.length), 0) * 7) + 10)
  const textWidth = 110
  const left = labelWidth + 10
  const right = width - textWidth
  const rowHeight = 30
  const top = 44
  const height = top + Math.max(1, bars.length) * rowHeight + 36
  const tick = options.tick ?? defaultTick
  const hi = Math.max(...bars.map((b) => Math.max(b.value, b.max ?? b.value)), 0)

  let x: (v: number) => number
  let ticks: Array<number>
  if (options.log === true) {
    const positive = bars.flatMap((b) => [b.value, b.min ?? b.value]).filter((v) => v > 0)
    const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, hi > 0 ? hi : 1)))
    const top10 = 10 ** Math.ceil(Math.log10(Math.max(hi, lo * 10)))
    const span = Math.log10(top10) - Math.log10(lo)
    x = (v) => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * (right - left)
    ticks = []
    for (let t = lo; t <= top10 * 1.0001; t *= 10) ticks.push(t)
  } else {
    ticks = linearTicks(hi)
    const max = ticks[ticks.length - 1]!
    x = (v) => left + (Math.max(0, v) / max) * (right - left)
  }

  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="12">`
  )
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${
      escape(options.title)
    }</text>`
  )
  const axisY = top + bars.length * rowHeight
  for (const t of ticks) {
    const tx = x(t).toFixed(1)
    out.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${axisY}" stroke="#e3e3e3"/>`)
    out.push(`<text x="${tx}" y="${axisY + 16}" text-anchor="middle" fill="#555">${escape(tick(t))}</text>`)
  }
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight
    const x0 = options.log === true ? x(0) : left
    const x1 = x(bar.value)
    const fill = bar.highlight === true ? "#3b6fd8" : "#9aa7b8"
    out.push(`<text x="${labelWidth}" y="${y + 19}" text-anchor="end">${escape(bar.label)}</text>`)
    out.push(
      `<rect x="${x0.toFixed(1)}" y="${y + 6}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowHeight - 12}" ` +
        `fill="${fill}"/>`
    )
    if (bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min) && Number.isFinite(bar.max)) {
      const a = x(bar.min).toFixed(1)
      const b = x(bar.max).toFixed(1)
      const cy = y + rowHeight / 2
      out.push(`<line x1="${a}" y1="${cy}" x2="${b}" y2="${cy}" stroke="#222"/>`)
      out.push(`<line x1="${a}" y1="${cy - 5}" x2="${a}" y2="${cy + 5}" stroke="#222"/>`)
      out.push(`<line x1="${b}" y1="${cy - 5}" x2="${b}" y2="${cy + 5}" stroke="#222"/>`)
    }
    const end = Math.max(x1, bar.max !== undefined && Number.isFinite(bar.max) ? x(bar.max) : x1)
    out.push(`<text x="${(end + 6).toFixed(1)}" y="${y + 19}">${escape(bar.text ?? tick(bar.value))}</text>`)
  })
  out.push(`<line x1="${left}" y1="${top - 6}" x2="${left}" y2="${axisY}" stroke="#888"/>`)
  out.push(
    `<text x="${width / 2}" y="${height - 6}" text-anchor="middle" fill="#777" font-size="11">` +
      `bar: median; whisker: min–max over the counted samples${options.log === true ? "; log scale" : ""}</text>`
  )
  out.push("</svg>")
  return out.join("\n") + "\n"
}
