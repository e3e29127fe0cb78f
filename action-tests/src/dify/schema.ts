import type pg from 'pg';

/**
 * The subset of Dify 1.3.0's PostgreSQL schema the migration touches or the emulator needs
 * (column names and types as in api/models and api/migrations). Idempotent: every statement is
 * `IF NOT EXISTS`, so the api's start (`flask upgrade-db` in Dify) can run it every time.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL,
  encrypt_public_key text,
  plan varchar(255) NOT NULL DEFAULT 'basic',
  status varchar(255) NOT NULL DEFAULT 'normal',
  custom_config text,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE TABLE IF NOT EXISTS accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL,
  email varchar(255) NOT NULL,
  password varchar(255),
  password_salt varchar(255),
  avatar varchar(255),
  interface_language varchar(255),
  interface_theme varchar(255),
  timezone varchar(255),
  last_login_at timestamp,
  last_login_ip varchar(255),
  last_active_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  status varchar(16) NOT NULL DEFAULT 'active',
  initialized_at timestamp,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE INDEX IF NOT EXISTS account_email_idx ON accounts (email);
CREATE TABLE IF NOT EXISTS tenant_account_joins (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  account_id uuid NOT NULL,
  current boolean NOT NULL DEFAULT false,
  role varchar(16) NOT NULL DEFAULT 'normal',
  invited_by uuid,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  CONSTRAINT unique_tenant_account_join UNIQUE (tenant_id, account_id)
);
CREATE TABLE IF NOT EXISTS apps (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  name varchar(255) NOT NULL,
  description text NOT NULL DEFAULT '',
  mode varchar(255) NOT NULL,
  icon_type varchar(255),
  icon varchar(255),
  icon_background varchar(255),
  status varchar(255) NOT NULL DEFAULT 'normal',
  enable_site boolean NOT NULL DEFAULT true,
  enable_api boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE INDEX IF NOT EXISTS app_tenant_id_idx ON apps (tenant_id);
CREATE TABLE IF NOT EXISTS api_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  app_id uuid,
  tenant_id uuid,
  type varchar(16) NOT NULL,
  token varchar(255) NOT NULL,
  last_used_at timestamp,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE INDEX IF NOT EXISTS api_token_token_idx ON api_tokens (token, type);
CREATE TABLE IF NOT EXISTS end_users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  app_id uuid,
  type varchar(255) NOT NULL,
  external_user_id varchar(255),
  name varchar(255),
  is_anonymous boolean NOT NULL DEFAULT true,
  session_id varchar(255) NOT NULL,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE TABLE IF NOT EXISTS upload_files (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  storage_type varchar(255) NOT NULL,
  key varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  size integer NOT NULL,
  extension varchar(255) NOT NULL,
  mime_type varchar(255),
  created_by_role varchar(255) NOT NULL DEFAULT 'account',
  created_by uuid NOT NULL,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  used boolean NOT NULL DEFAULT false,
  used_by uuid,
  used_at timestamp,
  hash varchar(255),
  source_url text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS upload_file_tenant_idx ON upload_files (tenant_id);
CREATE TABLE IF NOT EXISTS tool_files (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  conversation_id uuid,
  file_key varchar(255) NOT NULL,
  mimetype varchar(255) NOT NULL,
  original_url varchar(2048),
  name varchar NOT NULL DEFAULT '',
  size integer NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS datasets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  name varchar(255) NOT NULL,
  description text,
  provider varchar(255) NOT NULL DEFAULT 'vendor',
  permission varchar(255) NOT NULL DEFAULT 'only_me',
  data_source_type varchar(255),
  indexing_technique varchar(255),
  index_struct text,
  created_by uuid NOT NULL,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_by uuid,
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  embedding_model varchar(255),
  embedding_model_provider varchar(255),
  collection_binding_id uuid,
  retrieval_model jsonb,
  built_in_field_enabled boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS dataset_tenant_idx ON datasets (tenant_id);
CREATE TABLE IF NOT EXISTS dataset_keyword_tables (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  dataset_id uuid NOT NULL UNIQUE,
  keyword_table text NOT NULL,
  data_source_type varchar(255) NOT NULL DEFAULT 'database'
);
CREATE TABLE IF NOT EXISTS dataset_process_rules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  dataset_id uuid NOT NULL,
  mode varchar(255) NOT NULL DEFAULT 'automatic',
  rules text,
  created_by uuid NOT NULL,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0)
);
CREATE TABLE IF NOT EXISTS documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  dataset_id uuid NOT NULL,
  position integer NOT NULL,
  data_source_type varchar(255) NOT NULL,
  data_source_info text,
  dataset_process_rule_id uuid,
  batch varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  created_from varchar(255) NOT NULL,
  created_by uuid NOT NULL,
  created_api_request_id uuid,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  processing_started_at timestamp,
  file_id text,
  word_count integer,
  parsing_completed_at timestamp,
  cleaning_completed_at timestamp,
  splitting_completed_at timestamp,
  tokens integer,
  indexing_latency double precision,
  completed_at timestamp,
  is_paused boolean DEFAULT false,
  paused_by uuid,
  paused_at timestamp,
  error text,
  stopped_at timestamp,
  indexing_status varchar(255) NOT NULL DEFAULT 'waiting',
  enabled boolean NOT NULL DEFAULT true,
  disabled_at timestamp,
  disabled_by uuid,
  archived boolean NOT NULL DEFAULT false,
  archived_reason varchar(255),
  archived_by uuid,
  archived_at timestamp,
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  doc_type varchar(40),
  doc_metadata jsonb,
  doc_form varchar(255) NOT NULL DEFAULT 'text_model',
  doc_language varchar(255)
);
CREATE INDEX IF NOT EXISTS document_dataset_id_idx ON documents (dataset_id);
CREATE TABLE IF NOT EXISTS document_segments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  dataset_id uuid NOT NULL,
  document_id uuid NOT NULL,
  position integer NOT NULL,
  content text NOT NULL,
  answer text,
  word_count integer NOT NULL,
  tokens integer NOT NULL,
  keywords json,
  index_node_id varchar(255),
  index_node_hash varchar(255),
  hit_count integer NOT NULL DEFAULT 0,
  enabled boolean NOT NULL DEFAULT true,
  disabled_at timestamp,
  disabled_by uuid,
  status varchar(255) NOT NULL DEFAULT 'waiting',
  created_by uuid NOT NULL,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  updated_by uuid,
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP(0),
  indexing_at timestamp,
  completed_at timestamp,
  error text,
  stopped_at timestamp
);
CREATE INDEX IF NOT EXISTS document_segment_document_id_idx ON document_segments (document_id);
CREATE INDEX IF NOT EXISTS document_segment_dataset_id_idx ON document_segments (dataset_id);
`;

/** Anything that runs SQL: a pg Pool or a (pool) client. */
export type Db = pg.Pool | pg.ClientBase;

/**
 * Creates the schema (idempotent). One simple-protocol query is one implicit transaction, and
 * the advisory lock in it serialises an api and a seeder starting together
 * (`CREATE ... IF NOT EXISTS` alone is not safe against a concurrent create).
 */
export async function ensureSchema(db: Db): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(51001300);\n${SCHEMA_SQL}`);
}
