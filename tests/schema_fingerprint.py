"""A database's schema as comparable lines: columns, constraints (with their comments), indexes,
functions (their code and comment), triggers (and whether they fire always), views, types, policies,
row-level security, grants; optionally the built-in rules and the settings row. The partitions of a
table are left out: which months exist depends on the day and the data, not on the schema."""

from __future__ import annotations

import asyncpg

SCHEMA = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema IN ('public', 'app_auth')
   AND (table_schema || '.' || table_name)::regclass NOT IN (SELECT inhrelid FROM pg_inherits)
UNION ALL
SELECT 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' '
       || coalesce(obj_description(oid, 'pg_constraint'), '')
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
   AND conrelid NOT IN (SELECT inhrelid FROM pg_inherits)
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
   AND (schemaname || '.' || quote_ident(tablename))::regclass NOT IN (SELECT inhrelid FROM pg_inherits)
UNION ALL
SELECT 'function', p.oid::regprocedure::text || ' ' || md5(p.prosrc) || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM pg_proc p WHERE p.pronamespace IN ('public'::regnamespace, 'app_auth'::regnamespace)
UNION ALL
SELECT 'trigger', tgrelid::regclass || ' ' || tgname || ' ' || tgenabled::text || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid NOT IN (SELECT inhrelid FROM pg_inherits)
UNION ALL
SELECT 'view', viewname || ' ' || md5(definition) FROM pg_views WHERE schemaname = 'public'
UNION ALL
SELECT 'type', t.typname || ' ' || string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)
  FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
  JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname
UNION ALL
SELECT 'policy', tablename || ' ' || policyname || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
  FROM pg_policies
UNION ALL
SELECT 'rls', relname || ' ' || relrowsecurity FROM pg_class
 WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition
UNION ALL
SELECT 'grant', table_name || ' ' || privilege_type FROM information_schema.role_table_grants WHERE grantee = 'ao_app'
"""

SEEDS = """
SELECT 'rule', name || ' ' || rule_type || ' ' || priority || ' ' || conditions::text || ' ' || action::text
  FROM autonomous_rules
UNION ALL
SELECT 'settings', (to_jsonb(s) - 'updated_at')::text FROM (SELECT * FROM autonomous_settings) s
"""


async def fingerprint(url: str, *, seeds: bool = True) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(SCHEMA + ("UNION ALL" + SEEDS if seeds else ""))
    finally:
        await conn.close()
    return sorted((r[0], r[1]) for r in rows)
