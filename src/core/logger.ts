import { isThenable } from './thenable.js';

/** Any pino-compatible logger (pino, bunyan-style, or a console adapter). */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

const noop = (): void => undefined;

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * The user's logger, made unable to throw: a logger that fails (a closed stream, a serialiser
 * that chokes on a value) must not stop a worker or leave an attempt `running`.
 */
export function safeLogger(logger: Logger): Logger {
  const guard =
    (level: keyof Logger) =>
    (object: object, message?: string): void => {
      try {
        // An async logger's rejection would otherwise end the process as unhandled.
        const result: unknown = logger[level](object, message);
        if (isThenable(result)) result.then(undefined, noop);
      } catch {
        // nowhere left to report it
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
