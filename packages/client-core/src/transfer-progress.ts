// Progress of put/get/cp on stderr: a cli-progress bar with bytes, rate and
// ETA when stderr is a terminal and --quiet was not given; nothing otherwise
// (a pipe or a log gets no control characters).
import { SingleBar } from "cli-progress";
import { defaults } from "@gfs/common";
import { iecBytes } from "./text-format";
import { etaText } from "./transfer-plan";

export interface Progress {
  /** `bytes` more were copied. */
  add(bytes: number): void;
  /** Now copying `name`. */
  file(name: string): void;
  stop(): void;
}

const silent: Progress = { add() {}, file() {}, stop() {} };

/** `total` bytes, or -1 when unknown (stdin): then no bar and no ETA, just bytes and rate. */
export function startProgress(verb: string, total: number, o: { quiet: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = o.stream ?? process.stderr;
  if (o.quiet || !stream.isTTY) return silent;
  const known = total >= 0;
  const bar = new SingleBar({
    stream, fps: defaults.transfer_progress_fps, hideCursor: true, barsize: 24,
    format: known ? `${verb} |{bar}| {percentage}% | {done} / {size} | {rate} | ETA {left} | {file}`
      : `${verb} {done} | {rate} | {file}`,
  });
  const started = Date.now();
  let done = 0;
  let name = "";
  const payload = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = done / seconds;
    return { done: iecBytes(done), size: iecBytes(Math.max(total, 0)), rate: `${iecBytes(Math.round(rate))}/s`, left: etaText(total - done, rate), file: name };
  };
  bar.start(known ? Math.max(total, 1) : 1, 0, payload());
  return {
    add(bytes) { done += bytes; bar.update(known ? done : 0, payload()); },
    file(n) { name = n; bar.update(known ? done : 0, payload()); },
    stop() {
      if (known && done >= total) bar.update(Math.max(total, 1), payload()); // an empty file shows 100 %, not 0
      bar.stop();
    },
  };
}
