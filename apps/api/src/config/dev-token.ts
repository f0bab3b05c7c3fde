import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiConfig } from './load-config.js';

const FILE = 'dev-token';
const SHAPE = /^dev_[A-Za-z0-9_-]{16,}$/;

/**
 * Embedded mode generates a development token; keep it in `DATA_DIR` so the token a
 * dashboard saved keeps working after a restart, like the runs it lists. Only the
 * generated token is kept (never a configured one), readable by the owner alone.
 */
export function withPersistentDevToken(config: ApiConfig): ApiConfig {
  if (config.mode !== 'embedded' || !config.devToken) return config;
  const path = join(config.dataDir, FILE);
  let token = config.devToken;
  if (existsSync(path)) {
    token = readFileSync(path, 'utf8').trim();
    if (!SHAPE.test(token)) throw new Error(`${path} does not hold a development token; delete it`);
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(path, `${token}\n`, { mode: 0o600 });
  }
  return { ...config, devToken: token, tokens: [{ workspace: 'dev', token }] };
}
