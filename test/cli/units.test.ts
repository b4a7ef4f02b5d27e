// The CLI's pure parts, in process: URL and duration parsing, error lines, the progress display.
import { describe, expect, it } from 'vitest';
import { importClient, mask, parseDatabaseUrl } from '../../src/cli/database.js';
import { parseDuration } from '../../src/cli/duration.js';
import { CliError, UsageError, describeForCli, exitCodeOf } from '../../src/cli/errors.js';
import { clip, printable } from '../../src/cli/format.js';
import { Progress } from '../../src/cli/progress.js';
import { DatabaseError, InvalidStateError } from '../../src/index.js';

describe('parseDatabaseUrl', () => {
  it.each([
    ['postgres://u:p@db:5432/app', 'postgres'],
    ['postgresql://db/app', 'postgres'],
    ['mysql://root@127.0.0.1:3306/app', 'mysql'],
    ['mariadb://root@127.0.0.1/app', 'mysql'],
  ])('%s is %s', (url, kind) => {
    expect(parseDatabaseUrl(url).kind).toBe(kind);
  });

  // libpq's Unix-socket form was refused as naming no host, though node-postgres reads it.
  it.each([
    ['postgres://app@/shop?host=/run/postgresql', 'postgres://app@/shop?host=/run/postgresql'],
    [
      'postgresql:///shop?sslmode=disable&host=/tmp',
      'postgresql:///shop?sslmode=disable&host=/tmp',
    ],
    ['postgres://app:Sup3rSecret@/shop?host=/tmp', 'postgres://app:***@/shop?host=/tmp'],
  ])('takes the Unix-socket URL %s', (url, display) => {
    expect(parseDatabaseUrl(url)).toEqual({ kind: 'postgres', url, display });
  });

  it.each(['postgres://app@/shop', 'postgres://app@/shop?host=', 'postgres://app@/shop?port=5'])(
    'refuses %s, which names no host',
    (url) => {
      expect(() => parseDatabaseUrl(url)).toThrow(UsageError);
    },
  );

  it('reads mariadb:// as mysql:// for mysql2', () => {
    expect(parseDatabaseUrl('mariadb://root@h/app')).toMatchObject({ url: 'mysql://root@h/app' });
  });

  it.each([
    ['sqlite:app.db', `${process.cwd()}/app.db`],
    ['sqlite://data/app.sqlite', `${process.cwd()}/data/app.sqlite`],
    ['sqlite:///tmp/app.db', '/tmp/app.db'],
    ['sqlite:/tmp/x', '/tmp/x'],
    ['./shop.sqlite3', `${process.cwd()}/shop.sqlite3`],
    ['/var/lib/app.db', '/var/lib/app.db'],
  ])('%s is the SQLite file %s', (url, file) => {
    expect(parseDatabaseUrl(url)).toEqual({ kind: 'sqlite', file, display: `sqlite:${file}` });
  });

  it.each(['redis://localhost', 'app.txt', 'http://x.db', 'postgres://'])(
    'refuses %s with a UsageError (exit code 2)',
    (url) => {
      expect(() => parseDatabaseUrl(url)).toThrow(UsageError);
    },
  );

  it('masks passwords for messages', () => {
    expect(parseDatabaseUrl('postgres://me:s3cret@db/app').display).toBe(
      'postgres://me:***@db/app',
    );
    expect(mask('mysql://root@db/app')).toBe('mysql://root@db/app');
  });

  // Each of these once printed some of its secret ("Sup3r", "Secret", "hunter2", …).
  it.each([
    ['an @ in the password', 'postgres://u:Sup3r@Secret@host/db', 'postgres://u:***@host/db'],
    ['two @ in the password', 'postgres://u:a@b@c@host:5432/db', 'postgres://u:***@host:5432/db'],
    ['a / in the password (unparsable)', 'postgres://u:Sup3r/Secret@host/db', 'postgres://***'],
    [
      'a port-like / in the password',
      'postgres://u:5432/Secret@host/db',
      'postgres://u:***@host/db',
    ],
    ['a ? in the password (unparsable)', 'mysql://u:Sup3r?Secret@host/db', 'mysql://***'],
    ['a # in the password (unparsable)', 'mysql://u:Sup3r#Secret@host/db', 'mysql://***'],
    ['a : in the password', 'postgres://u:Sup3r:Secret@host/db', 'postgres://u:***@host/db'],
    ['an empty user', 'postgres://:Sup3rSecret@host/db', 'postgres://:***@host/db'],
    ['an IPv6 host', 'postgres://u:Sup3rSecret@[::1]:5432/db', 'postgres://u:***@[::1]:5432/db'],
    ['upper-case scheme', 'POSTGRES://u:Sup3rSecret@host/db', 'POSTGRES://u:***@host/db'],
    ['an encoded @', 'postgres://u:Sup3r%40Secret@host/db', 'postgres://u:***@host/db'],
    [
      '?password=',
      'postgres://u@host/db?password=Sup3rSecret',
      'postgres://u@host/db?password=***',
    ],
    [
      'password, pass, pwd, sslpassword, secret, token among other parameters',
      'postgres://host/db?sslmode=require&password=Sup3r&pass=Secret&PWD=hunter2&sslpassword=s3&secret=s4&token=s5&application_name=app',
      'postgres://host/db?sslmode=require&password=***&pass=***&PWD=***&sslpassword=***&secret=***&token=***&application_name=app',
    ],
    [
      'an & in a password parameter',
      'mysql://host/db?password=Sup3r&Secret',
      'mysql://host/db?password=***',
    ],
    [
      'an encoded parameter name',
      'postgres://host/db?pass%77ord=Sup3rSecret',
      'postgres://host/db?pass%77ord=***',
    ],
    [
      'a fragment',
      'postgres://host/db?x=1&password=Sup3r#Secret',
      'postgres://host/db?x=1&password=***',
    ],
    [
      'a password both in userinfo and query',
      'postgres://u:Sup3r@host/db?password=Secret',
      'postgres://u:***@host/db?password=***',
    ],
    ['a user that is a query', 'postgres://host/db?password=Sup3r:x@Secret', 'postgres://***'],
    ['another scheme', 'redis://:Sup3rSecret@host', 'redis://:***@host'],
    ['no scheme', 'u:Sup3rSecret@host/db', '***'],
    [
      "libpq's keyword/value form",
      'host=127.0.0.1 user=postgres password=Sup3rSecret dbname=test',
      'host=127.0.0.1 user=postgres password=*** dbname=test',
    ],
    [
      "libpq's keyword/value form, quoted, with spaces around =",
      "host=db sslpassword = 'Sup3r \\' Secret' dbname=test",
      'host=db sslpassword = *** dbname=test',
    ],
    [
      "libpq's keyword/value form, an escaped space in an unquoted value",
      'host=db password=Sup3r\\ Secret dbname=test',
      'host=db password=*** dbname=test',
    ],
    ['unparsable (a bad port)', 'postgres://u@host:Sup3rSecret/db', 'postgres://***'],
    ['unparsable (a space)', 'postgres://u:Sup3r Secret@ho st/db', 'postgres://***'],
    ['a newline', 'postgres://u:Sup3r\nSecret@host/db', 'postgres://u:***@host/db'],
  ])('masks a URL with %s', (_label, url, masked) => {
    expect(mask(url)).toBe(masked);
    for (const secret of ['Sup3r', 'Secret', 'hunter2', 's3', 's4', 's5']) {
      expect(mask(url)).not.toContain(secret);
    }
  });

  it.each([
    'postgres://db/app',
    'postgres://u@db:5432/app?sslmode=require&application_name=x',
    'mysql://root@127.0.0.1:3306/app',
    'postgres://u@[::1]/app',
  ])('leaves %s, which holds no secret, as it is', (url) => {
    expect(mask(url)).toBe(url);
  });

  it('never prints the password of a URL it refuses', () => {
    for (const url of [
      'postgres://u:Sup3r Secret@host/db',
      'postgres://u:Sup3rSecret@',
      'ftp://u:Sup3rSecret@host/x',
      'postgres://u@host/db?password=Sup3rSecret&x=%zz',
    ]) {
      let message = '';
      try {
        parseDatabaseUrl(url);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, url).not.toContain('Sup3r');
    }
  });
});

describe('importClient', () => {
  it('says which package to install when a client library is missing', async () => {
    await expect(
      importClient('async-task-no-such-client', 'async-task-no-such-client'),
    ).rejects.toThrow(
      'this database needs the async-task-no-such-client package, which is not installed: run `npm install async-task-no-such-client`',
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['7d', 7 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['30m', 30 * 60_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['2w', 14 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '7', 'd', '7 days', '-1h', '1.5h', '99999999999999999w'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow();
  });
});

describe('errors', () => {
  it('maps usage errors to 2 and everything else to 1', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new CliError('x'))).toBe(1);
    expect(exitCodeOf(new InvalidStateError('1', 'succeeded', 'x'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });

  it('fills an empty message from an AggregateError cause, on one line', () => {
    const cause = new AggregateError([
      Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ]);
    const error = new DatabaseError('could not get a connection from the pool: ', { cause });
    expect(describeForCli(error)).toBe(
      'could not get a connection from the pool: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
    );
  });

  it('does not repeat a cause the message already says, and joins lines', () => {
    const cause = new Error('relation "x" does not exist');
    const error = new DatabaseError(
      'PostgreSQL refused the statement: relation "x" does not exist',
      {
        cause,
      },
    );
    expect(describeForCli(error)).toBe(
      'PostgreSQL refused the statement: relation "x" does not exist',
    );
    expect(describeForCli(new Error('two\n  lines'))).toBe('two lines');
  });
});

describe('Progress', () => {
  /** Records writes, with the terminal's erase-line sequence shown as `<EL>`. */
  function stream(isTTY: boolean, columns = 80) {
    const writes: string[] = [];
    const write = (text: string) => writes.push(text.replaceAll('\u001b[K', '<EL>'));
    return { writes, isTTY, columns, write };
  }

  it('redraws one line in place on a TTY, and ends it on finish', () => {
    const tty = stream(true);
    const progress = new Progress({ label: 'work', total: 10, stream: tty, redrawMs: 0 });
    progress.update(5, 'half');
    progress.finish();
    expect(tty.writes[0]).toMatch(/^\rwork {2}\[█{12}░{12}\] {2}5\/10 {3}50% {2}half<EL>$/);
    expect(tty.writes).toHaveLength(2);
    expect(tty.writes[1]).toMatch(/^\rwork {2}\[█{12}░{12}\] {2}5\/10 .*in \d+ ms {2}half<EL>\n$/);
  });

  it('cuts a TTY line to the terminal width, whatever the elapsed time adds', () => {
    const tty = stream(true, 30);
    const progress = new Progress({ label: 'work', total: 10, stream: tty, redrawMs: 0 });
    progress.update(5, 'a note long enough to overflow');
    progress.finish();
    expect(tty.writes).toHaveLength(2);
    for (const write of tty.writes) {
      expect(write).toMatch(/^\rwork {2}\[█/);
      expect(write.replace(/<EL>|\r|\n/g, '')).toHaveLength(29);
    }
  });

  it('writes plain lines when not a TTY, and nothing for work too short to show', () => {
    const log = stream(false);
    const quick = new Progress({ label: 'quick', total: 3, stream: log });
    quick.update(3);
    quick.finish();
    expect(log.writes).toEqual([]);

    const slow = new Progress({ label: 'slow', unit: 'deleted', stream: log, lineMs: 0 });
    slow.update(1200);
    slow.finish();
    expect(log.writes).toHaveLength(2);
    expect(log.writes[0]).toMatch(/^slow {2}1,200 deleted\n$/);
    expect(log.writes[1]).toMatch(/^slow {2}1,200 deleted {2}in \d+ ms\n$/);
    expect(log.writes.join('')).not.toContain('\r');
  });

  it('writes nothing when disabled', () => {
    const tty = stream(true);
    const progress = new Progress({ label: 'off', total: 2, stream: tty, enabled: false });
    progress.update(1);
    progress.log('hello');
    progress.finish();
    expect(tty.writes).toEqual([]);
  });
});

describe('printable', () => {
  it.each([
    ['a newline', 'a\nb', 'a⏎b'],
    ['CR and tab', 'a\rb\tc', 'a\\rb\\tc'],
    ['ESC sequences', '\x1b[2J\x1b]0;t\x07', '\\x1b[2J\\x1b]0;t\\x07'],
    ['NUL and DEL', '\0\x7f', '\\x00\\x7f'],
    ['C1 controls (CSI)', '\x9b31m\x85', '\\x9b31m\\x85'],
    [
      'bidi overrides and isolates',
      '\u202aa\u202eb\u2066c\u2069',
      '\\u202Aa\\u202Eb\\u2066c\\u2069',
    ],
    ['bidi marks', '\u200e\u200f\u061c', '\\u200E\\u200F\\u061C'],
    ['line and paragraph separators', 'a\u2028b\u2029', 'a\\u2028b\\u2029'],
  ])('escapes %s', (_label, text, expected) => {
    expect(printable(text)).toBe(expected);
  });

  it('leaves ordinary text, accents, emoji and backslashes alone', () => {
    const text = 'Zoë paid 12 € 🎉 at C:\\shop "quoted"';
    expect(printable(text)).toBe(text);
  });

  it('escapes before clipping, so a cut never leaves a raw control character', () => {
    const clipped = clip('x\x1b[31m'.repeat(10), 12);
    expect(clipped).toHaveLength(12);
    expect(clipped.startsWith('x\\x1b[31mx')).toBe(true);
    expect(clipped).not.toContain('\x1b');
  });

  it('never cuts a character in half (an emoji is two UTF-16 units)', () => {
    expect(clip('ab😀😀', 4)).toBe('ab…');
    expect(clip('abc😀😀', 5)).toBe('abc…');
    expect(clip('abc😀😀', 6)).toBe('abc😀…');
  });
});
