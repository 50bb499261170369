// One structured logger for the whole tool. Pretty, human lines on a TTY;
// JSON lines (one object per line) when stderr is not a terminal, so logs of
// workers on a cluster can be shipped as they are.
import pino, { type Logger } from 'pino';

const level = process.env.CRLHF_LOG_LEVEL ?? 'info';

function makeLogger(): Logger {
  const pretty = process.env.CRLHF_LOG_FORMAT === 'pretty' || (process.env.CRLHF_LOG_FORMAT !== 'json' && process.stderr.isTTY);
  if (pretty) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' },
      },
    });
  }
  return pino({ level, base: undefined }, pino.destination(2));
}

export const log: Logger = makeLogger();
export type { Logger };
