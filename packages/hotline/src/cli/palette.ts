/**
 * Colours for a terminal, or none: only when the stream is a TTY, `NO_COLOR` is unset or
 * empty (https://no-color.org) and `--no-color` was not given. SGR codes, ECMA-48 §8.3.117.
 */
export interface Palette {
  readonly incoming: (text: string) => string;
  readonly control: (text: string) => string;
  readonly notice: (text: string) => string;
  readonly good: (text: string) => string;
  readonly bad: (text: string) => string;
  readonly dim: (text: string) => string;
}

const sgr = (on: number, off: number) => (text: string) => `\x1b[${on}m${text}\x1b[${off}m`;
const plain = (text: string) => text;

const COLOURS: Palette = {
  incoming: sgr(36, 39), // cyan
  control: sgr(35, 39), // magenta
  notice: sgr(33, 39), // yellow
  good: sgr(32, 39), // green
  bad: sgr(31, 39), // red
  dim: sgr(2, 22),
};

const NONE: Palette = { incoming: plain, control: plain, notice: plain, good: plain, bad: plain, dim: plain };

export function paletteFor(stream: { isTTY?: boolean }, noColor: boolean, env: NodeJS.ProcessEnv = process.env): Palette {
  const wanted = stream.isTTY === true && !noColor && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  return wanted ? COLOURS : NONE;
}
