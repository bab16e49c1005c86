-- The benchmark's orchestrator rows, generated inside PostgreSQL in a few set-based statements.
-- Run by bench/generate.py in the transaction that created the tables, with the seed, the
-- anchor and the table sizes in settings `bench.*`. Each "-- step:" line starts one step.
-- Every pseudo-random choice is pg_temp.u(row, stream): a hash of the row number, so the same
-- seed and sizes give the same rows whatever the plan or the machine.

-- step: helpers
CREATE FUNCTION pg_temp.setting(name text) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT current_setting('bench.' || name)::bigint $$;
-- A uniform number in [0, 1), independent for each stream.
CREATE FUNCTION pg_temp.u(i bigint, stream int) RETURNS float8 LANGUAGE sql STABLE
    AS $$ SELECT (hashint8extended(i, pg_temp.setting('seed') * 256 + stream)
                  & 4503599627370495)::float8 / 4503599627370496.0 $$;
CREATE FUNCTION pg_temp.anchor() RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT current_setting('bench.anchor')::timestamptz $$;
-- Any instant of the five years before the anchor.
CREATE FUNCTION pg_temp.any_time(i bigint, stream int) RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT pg_temp.anchor() - interval '5 years'
                 + (pg_temp.anchor() - (pg_temp.anchor() - interval '5 years'))
                   * pg_temp.u(i, stream) $$;
-- Row i of n in creation order under linear growth: rows get denser towards the anchor, so
-- about 2/1826 of them (a few thousand of 2 million) fall in its last 24 hours.
CREATE FUNCTION pg_temp.grown(i bigint, n bigint, stream int) RETURNS timestamptz
    LANGUAGE sql STABLE
    AS $$ SELECT pg_temp.anchor() - interval '5 years'
                 + (pg_temp.anchor() - (pg_temp.anchor() - interval '5 years'))
                   * sqrt((i - 1 + pg_temp.u(i, stream)) / n) $$;
-- Updated some days after creation, never after the anchor.
CREATE FUNCTION pg_temp.later(t timestamptz, i bigint, stream int) RETURNS timestamptz
    LANGUAGE sql STABLE
    AS $$ SELECT least(t + interval '40 days' * pg_temp.u(i, stream), pg_temp.anchor()) $$;

-- step: team
INSERT INTO public.team (id, name, active, created_on, created_by, updated_on, updated_by)
SELECT g, 'team-' || substr(md5('t' || g), 1, 10), pg_temp.u(g, 1) < 0.95,
       pg_temp.any_time(g, 2), 2, pg_temp.any_time(g, 2), 2
FROM generate_series(2, pg_temp.setting('teams')) AS g;

-- step: cluster
-- A kubeconfig's bearer token and CA data make a real cluster's row about 1.5 kB wide.
INSERT INTO public.cluster (id, cluster_name, active, is_virtual_cluster, is_prod, server_url,
                            config, created_on, created_by, updated_on, updated_by)
SELECT g, 'cluster-' || substr(md5('c' || g), 1, 12), pg_temp.u(g, 10) < 0.9, virtual,
       pg_temp.u(g, 12) < 0.3,
       CASE WHEN NOT virtual
            THEN 'https://' || substr(md5('h' || g), 1, 16) || '.eks.example.internal:6443' END,
       CASE WHEN virtual THEN json_build_object()
            ELSE json_build_object('bearer_token', repeat(md5('tok' || g), 28),
                                   'cert_auth_data', repeat(md5('ca' || g), 18),
                                   'tls_verify', 'true') END,
       pg_temp.any_time(g, 13), 2, pg_temp.any_time(g, 13), 2
FROM (SELECT g, pg_temp.u(g, 11) < 0.1 AS virtual
      FROM generate_series(2, pg_temp.setting('clusters')) AS g) AS c;

-- step: environment
-- A quarter are production ("default"); a few clusters hold most environments.
INSERT INTO public.environment (id, environment_name, cluster_id, active, "default", namespace,
                                environment_identifier, is_virtual_environment, created_on,
                                created_by, updated_on, updated_by)
SELECT g, 'env-' || substr(md5('e' || g), 1, 10), cluster_id, pg_temp.u(g, 21) < 0.93,
       pg_temp.u(g, 22) < 0.25, namespace, 'cluster-' || cluster_id || '__' || namespace,
       false, pg_temp.any_time(g, 23), 2, pg_temp.any_time(g, 23), 2
FROM (SELECT g, 1 + floor(pg_temp.setting('clusters') * pg_temp.u(g, 20) ^ 2)::int AS cluster_id,
             'ns-' || substr(md5('n' || g), 1, 12) AS namespace
      FROM generate_series(2, pg_temp.setting('environments')) AS g) AS e;

-- step: app
-- 75 % Devtron CI/CD apps, 15 % Helm apps, 10 % jobs; 85 % active; a few teams own most.
INSERT INTO public.app (id, app_name, active, team_id, app_type, app_store, app_offering_mode,
                        description, display_name, created_on, created_by, updated_on,
                        updated_by)
SELECT g, 'app-' || substr(md5('a' || g), 1, 10) || '-' || g, pg_temp.u(g, 30) < 0.85,
       1 + floor(pg_temp.setting('teams') * pg_temp.u(g, 31) ^ 2)::int,
       CASE WHEN pg_temp.u(g, 32) < 0.75 THEN 0 WHEN pg_temp.u(g, 32) < 0.9 THEN 1 ELSE 2 END,
       false, 'FULL',
       CASE WHEN pg_temp.u(g, 33) < 0.6
            THEN repeat('service owned by the platform team ', 1 + (4 * pg_temp.u(g, 34))::int)
       END,
       NULL, created, 2, pg_temp.later(created, g, 36), 2
FROM (SELECT g, pg_temp.grown(g, pg_temp.setting('apps'), 35) AS created
      FROM generate_series(1, pg_temp.setting('apps')) AS g) AS a;

-- step: app ranks
-- Apps by kind, numbered, so a pipeline can pick "the k-th Devtron app" with one hash join.
CREATE TEMPORARY TABLE cd_app ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) AS rank, id FROM public.app WHERE app_type = 0;
CREATE TEMPORARY TABLE job_app ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) AS rank, id FROM public.app WHERE app_type = 2;
ALTER TABLE cd_app ADD PRIMARY KEY (rank);
ALTER TABLE job_app ADD PRIMARY KEY (rank);
ANALYZE cd_app;
ANALYZE job_app;

-- step: ci_pipeline
-- In id order, as serial ids are: 5 % belong to jobs, the rest to Devtron apps, popular apps
-- owning many; 18 % deleted; the oldest fifth predate ci_pipeline_type.
INSERT INTO public.ci_pipeline (id, app_id, ci_template_id, name, active, deleted,
                                ci_pipeline_type, manual, scan_enabled, created_on, created_by,
                                updated_on, updated_by)
SELECT g, coalesce(job_app.id, cd_app.id), coalesce(job_app.id, cd_app.id),
       'ci-' || coalesce(job_app.id, cd_app.id) || '-' || substr(md5('ci' || g), 1, 16),
       NOT deleted AND pg_temp.u(g, 43) < 0.97, deleted,
       CASE WHEN job THEN 'CI_JOB'
            WHEN g < pg_temp.setting('ci_pipelines') / 5 THEN NULL
            WHEN pg_temp.u(g, 45) < 0.8 THEN 'CI_BUILD'
            WHEN pg_temp.u(g, 45) < 0.9 THEN 'LINKED'
            WHEN pg_temp.u(g, 45) < 0.95 THEN 'EXTERNAL'
            ELSE 'LINKED_CD' END,
       pg_temp.u(g, 46) < 0.3, pg_temp.u(g, 47) < 0.1,
       created, 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 48))::int,
       pg_temp.later(created, g, 49), 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 48))::int
FROM (SELECT g, pg_temp.u(g, 40) AS pick, pg_temp.u(g, 41) < 0.05 AS job,
             pg_temp.u(g, 44) < 0.18 AS deleted,
             pg_temp.grown(g, pg_temp.setting('ci_pipelines'), 42) AS created
      FROM generate_series(1, pg_temp.setting('ci_pipelines')) AS g) AS s
JOIN cd_app ON cd_app.rank = 1 + floor((SELECT count(*) FROM cd_app) * pick ^ 1.5)
LEFT JOIN job_app ON job AND job_app.rank = 1 + floor((SELECT count(*) FROM job_app) * pick)
ORDER BY g;

-- step: pipeline
-- CD pipeline g deploys CI pipeline g's Devtron app (a job's has no CI pipeline of its own
-- here) to an environment, popular environments taking many; 15 % deleted.
INSERT INTO public.pipeline (id, app_id, ci_pipeline_id, environment_id, trigger_type,
                             pipeline_name, deleted, deployment_app_type, created_on,
                             created_by, updated_on, updated_by)
SELECT g, cd_app.id, CASE WHEN NOT job AND g <= pg_temp.setting('ci_pipelines') THEN g END,
       environment_id,
       CASE WHEN pg_temp.u(g, 53) < 0.6 THEN 'AUTOMATIC' ELSE 'MANUAL' END,
       'cd-' || cd_app.id || '-' || environment_id || '-' || substr(md5('cd' || g), 1, 12),
       pg_temp.u(g, 51) < 0.15,
       CASE WHEN pg_temp.u(g, 54) < 0.55 THEN 'helm' ELSE 'argo_cd' END,
       created, 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 55))::int,
       pg_temp.later(created, g, 56), 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 55))::int
FROM (SELECT g, pg_temp.u(g, 40) AS pick, pg_temp.u(g, 41) < 0.05 AS job,
             1 + floor(pg_temp.setting('environments') * pg_temp.u(g, 50) ^ 1.3)::int
                 AS environment_id,
             pg_temp.grown(g, pg_temp.setting('cd_pipelines'), 52) AS created
      FROM generate_series(1, pg_temp.setting('cd_pipelines')) AS g) AS s
JOIN cd_app ON cd_app.rank = 1 + floor((SELECT count(*) FROM cd_app) * pick ^ 1.5)
ORDER BY g;

-- step: users
-- 12 % API tokens (a JWT each, 85 % still active), 8 % people no longer active, the rest
-- active people; 10 % of people have a password, the others sign in through SSO.
INSERT INTO public.users (id, fname, lname, password, access_token, email_id, active, user_type,
                          timeout_window_configuration_id, request_email_id, created_on,
                          created_by, updated_on, updated_by)
SELECT g,
       CASE WHEN NOT token THEN initcap(substr(md5('f' || g), 1, 7)) END,
       CASE WHEN NOT token THEN initcap(substr(md5('l' || g), 1, 9)) END,
       CASE WHEN NOT token AND pg_temp.u(g, 62) < 0.1
            THEN '$2a$10$' || md5('p' || g) || substr(md5('q' || g), 1, 21) END,
       CASE WHEN token
            THEN 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || repeat(md5('jwt' || g), 9) || '.'
                 || md5('sig' || g)
            ELSE '' END,
       CASE WHEN token THEN 'API-TOKEN:token-' || substr(md5('k' || g), 1, 10) || '-' || g
            ELSE 'user' || g || '.' || substr(md5('m' || g), 1, 6) || '@example.com' END,
       CASE WHEN token THEN pg_temp.u(g, 61) < 0.85 ELSE kind >= 0.2 END,
       CASE WHEN token THEN 'apiToken' END,
       CASE WHEN token THEN g END, NULL,
       pg_temp.any_time(g, 63) AT TIME ZONE 'UTC', 1,
       pg_temp.later(pg_temp.any_time(g, 63), g, 64) AT TIME ZONE 'UTC', 1
FROM (SELECT g, pg_temp.u(g, 60) AS kind, pg_temp.u(g, 60) < 0.12 AS token
      FROM generate_series(3, pg_temp.setting('users')) AS g) AS s;

-- step: sequences
SELECT setval(pg_get_serial_sequence('public.' || t, 'id'), pg_temp.setting(setting))
FROM (VALUES ('users', 'users'), ('cluster', 'clusters'), ('environment', 'environments'),
             ('team', 'teams'), ('app', 'apps'), ('ci_pipeline', 'ci_pipelines'),
             ('pipeline', 'cd_pipelines')) AS s(t, setting);
