import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface SpawnNodeOptions {
  /** Resolves `spawnNode` once a stdout line matches. Default /^READY\b/. */
  readyLine?: RegExp;
  /** How long to wait for the ready line. Default 20 s. */
  readyTimeoutMs?: number;
  /** Extra arguments for the script. */
  args?: string[];
  /** Echo the child's output to this process's stderr (useful when debugging). */
  echo?: boolean;
}

export interface NodeProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the first stdout line (past or future) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** Sends a signal and waits for the exit. Default SIGTERM. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the child exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs a TypeScript (or JavaScript) file in a child Node process with `env` added to this
 * process's environment, and resolves once it prints its ready line. Cross-process tests
 * use this for real processes.
 */
export async function spawnNode(
  file: string,
  env: Record<string, string | undefined> = {},
  {
    readyLine = /^READY\b/,
    readyTimeoutMs = 20_000,
    args = [],
    echo = false,
  }: SpawnNodeOptions = {},
): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', tsxLoader, file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (echo) process.stderr.write(`[${child.pid}] ${line}\n`);
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (echo) process.stderr.write(chunk);
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  process.once('exit', () => child.kill('SIGKILL'));

  const waitForLine = (pattern: RegExp, timeoutMs = 20_000) => {
    const seen = lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `child ${child.pid} printed no line matching ${pattern} in ${timeoutMs} ms; stderr:\n${stderr.slice(-4000)}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(waiter);
      void exited.then(({ code, signal }) => {
        if (!waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(
          new Error(
            `child ${child.pid} exited (${code ?? signal}) before printing ${pattern}; stderr:\n${stderr.slice(-4000)}`,
          ),
        );
      });
    });
  };

  const proc: NodeProcess = {
    pid: child.pid!,
    child,
    lines,
    stderr: () => stderr,
    waitForLine,
    send: (line) => {
      child.stdin!.write(`${line}\n`);
    },
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    exited,
  };
  await waitForLine(readyLine, readyTimeoutMs);
  return proc;
}
