/**
 * Training progress for people: one line per model with epoch, loss and ETA — rewritten in place on a TTY,
 * plain lines (about every tenth of the run) otherwise, so logs stay readable.
 */

export interface Progress {
  /** Call after each epoch. */
  epoch(epoch: number, loss: number): void;
  /** Ends the model's line with a final message. */
  done(message: string): void;
}

/**
 * @example
 * const p = trainingProgress("sensor 2", 30);
 * train(values, { epochs: 30, onEpoch: (e, l) => p.epoch(e, l) });
 * p.done("stored 2/initial");
 */
export function trainingProgress(
  label: string,
  epochs: number,
  out: { isTTY?: boolean; write(text: string): unknown } = process.stderr,
  now: () => number = () => performance.now(),
): Progress {
  const started = now();
  const tty = out.isTTY === true;
  const every = Math.max(1, Math.round(epochs / 10));
  let open = false;
  return {
    epoch(epoch, loss) {
      const elapsed = (now() - started) / 1000;
      const eta = epoch > 0 ? (elapsed / epoch) * (epochs - epoch) : 0;
      const line = `${label}: epoch ${epoch}/${epochs} loss ${loss.toFixed(5)} elapsed ${elapsed.toFixed(1)} s ETA ${eta.toFixed(1)} s`;
      if (tty) {
        out.write(`\r\x1b[2K${line}`);
        open = true;
      } else if (epoch % every === 0 || epoch === epochs) {
        out.write(`${line}\n`);
      }
    },
    done(message) {
      if (open) out.write("\r\x1b[2K");
      open = false;
      out.write(`${label}: ${message}\n`);
    },
  };
}
