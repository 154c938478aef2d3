-- The tables the WatermelonDB scripts sync (exposed by eddy.toml in this folder): one per
-- scenario, so the scripts can run in any order against one eddy. Text primary keys, because
-- WatermelonDB ids are 16-character strings. The CHECK on `estimate` is what rejected.mjs
-- violates. wm_large is for large.mjs, wm_nudge for nudge.mjs. wm_scoped is for scope.mjs, under an eddy with scoped.toml. Safe to run twice.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['wm_tasks', 'wm_conflict', 'wm_rejected', 'wm_resurrect', 'wm_slow',
                           'wm_mig_tasks', 'wm_mig_projects', 'wm_replace', 'wm_soak',
                           'wm_visible', 'wm_scoped', 'wm_large', 'wm_nudge'] LOOP
    EXECUTE format($f$
      CREATE TABLE IF NOT EXISTS public.%I (
        id text PRIMARY KEY,
        title text NOT NULL DEFAULT '',
        done boolean NOT NULL DEFAULT false,
        estimate double precision CHECK (estimate IS NULL OR estimate >= 0),
        meta jsonb,
        owner_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )$f$, t);
  END LOOP;
END
$$;
