import pg from 'pg';
import type { DifyConfig } from './config.js';

/** Dify stores naive UTC `timestamp without time zone`; read them back as UTC instants. */
const utcTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 1114 && format !== 'binary') {
      return (v: string) => new Date(`${v.replace(' ', 'T')}Z`);
    }
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** A pool for `postgresql://DB_USERNAME:DB_PASSWORD@DB_HOST:DB_PORT/DB_DATABASE`. */
export function createDbPool(cfg: DifyConfig['db'], max = 5): pg.Pool {
  return new pg.Pool({
    user: cfg.user,
    password: cfg.password,
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    max,
    types: utcTypes as pg.CustomTypesConfig,
  });
}

/** Opens a pool on a connection URL (tests, seeder) with the same UTC handling. */
export function createDbPoolFromUrl(url: string, max = 5): pg.Pool {
  return new pg.Pool({ connectionString: url, max, types: utcTypes as pg.CustomTypesConfig });
}

/** `datetime.now(UTC).replace(tzinfo=None)` as a PostgreSQL literal. */
export function naiveUtc(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** Unix seconds, as Dify's `TimestampField` renders datetimes. */
export function unixSeconds(d: Date | null | undefined): number | null {
  return d ? Math.floor(d.getTime() / 1000) : null;
}
