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

-- The extended Summary's tables (devtron-extended-format.md §8), at the sizes years of use
-- leave: millions of CI and CD runs, an app's configuration rows per app or per pipeline, and
-- the small tables a few dozen rows each.

-- step: ci_workflow
-- CI runs over five years, denser towards the anchor (about 5,500 of 5 million in its last 24
-- hours); popular pipelines run most. 80 % succeed; the build type is recorded since migration
-- 90 (the oldest 30 % have none); a run carries its git trigger as JSON, as Devtron stores it.
INSERT INTO public.ci_workflow (id, name, status, message, started_on, finished_on,
                                ci_pipeline_id, ci_build_type, git_triggers, triggered_by)
SELECT g, 'ci-run-' || g,
       CASE WHEN pg_temp.u(g, 71) < 0.80 THEN 'Succeeded' WHEN pg_temp.u(g, 71) < 0.95 THEN 'Failed'
            WHEN pg_temp.u(g, 71) < 0.99 THEN 'CANCELLED' ELSE 'Running' END,
       CASE WHEN pg_temp.u(g, 71) >= 0.80 AND pg_temp.u(g, 71) < 0.95
            THEN 'step "build" exited with code 1' ELSE '' END,
       started, started + interval '4 minutes' * (1 + 3 * pg_temp.u(g, 72)),
       1 + floor(pg_temp.setting('ci_pipelines') * pg_temp.u(g, 70) ^ 1.5)::int,
       CASE WHEN g < pg_temp.setting('ci_workflows') * 0.3 THEN NULL
            WHEN pg_temp.u(g, 73) < 0.6 THEN 'self-dockerfile-build'
            WHEN pg_temp.u(g, 73) < 0.85 THEN 'managed-dockerfile-build'
            ELSE 'buildpack-build' END,
       json_build_object('1', json_build_object('Commit', md5('c' || g) || substr(md5('d' || g), 1, 8),
                                                 'Author', 'dev' || (g % 500) || '@example.com',
                                                 'Message', 'Merge pull request #' || (g % 9000),
                                                 'Changes', NULL, 'WebhookData', NULL)),
       1 + floor(pg_temp.setting('users') * pg_temp.u(g, 74))::int
FROM (SELECT g, pg_temp.grown(g, pg_temp.setting('ci_workflows'), 75) AS started
      FROM generate_series(1, pg_temp.setting('ci_workflows')) AS g) AS s
ORDER BY g;

-- step: cd_workflow
-- A CD trigger per artifact and pipeline; about 1.7 runners each (pre, deploy, post stages).
INSERT INTO public.cd_workflow (id, ci_artifact_id, pipeline_id, workflow_status, created_on,
                                created_by, updated_on, updated_by)
SELECT g, g, 1 + floor(pg_temp.setting('cd_pipelines') * pg_temp.u(g, 80) ^ 1.5)::int,
       'WfSucceeded', created, 2, created, 2
FROM (SELECT g, pg_temp.grown(g, pg_temp.setting('cd_runners') * 6 / 10, 81) AS created
      FROM generate_series(1, pg_temp.setting('cd_runners') * 6 / 10) AS g) AS s
ORDER BY g;

-- step: cd_workflow_runner
INSERT INTO public.cd_workflow_runner (id, name, workflow_type, executor_type, status, message,
                                       started_on, finished_on, cd_workflow_id, triggered_by)
SELECT g, 'cd-run-' || g, kind, 'AWF',
       CASE WHEN kind = 'DEPLOY' THEN
                CASE WHEN pg_temp.u(g, 83) < 0.75 THEN 'Healthy'
                     WHEN pg_temp.u(g, 83) < 0.85 THEN 'Degraded'
                     WHEN pg_temp.u(g, 83) < 0.95 THEN 'Failed' ELSE 'Progressing' END
            WHEN pg_temp.u(g, 83) < 0.9 THEN 'Succeeded' ELSE 'Failed' END,
       CASE WHEN pg_temp.u(g, 83) >= 0.85 THEN 'release failed: timed out waiting for the condition'
            ELSE '' END,
       started, started + interval '2 minutes' * (1 + 5 * pg_temp.u(g, 84)),
       1 + floor((g - 1) * 6 / 10)::int, 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 85))::int
FROM (SELECT g, pg_temp.grown(g, pg_temp.setting('cd_runners'), 86) AS started,
             CASE WHEN pg_temp.u(g, 82) < 0.15 THEN 'PRE' WHEN pg_temp.u(g, 82) < 0.9 THEN 'DEPLOY'
                  ELSE 'POST' END AS kind
      FROM generate_series(1, pg_temp.setting('cd_runners')) AS g) AS s
ORDER BY g;

-- step: logins
-- Logins and API-token uses over five years, denser recently; a user's audit row per session.
INSERT INTO public.user_audit (id, user_id, client_ip, created_on, updated_on)
SELECT g, 1 + floor(pg_temp.setting('users') * pg_temp.u(g, 90) ^ 2)::int,
       '10.' || (g % 250) || '.' || (g % 7) || '.' || (g % 13), seen, seen
FROM (SELECT g, pg_temp.grown(g, pg_temp.setting('user_audits'), 91) AS seen
      FROM generate_series(1, pg_temp.setting('user_audits')) AS g) AS s;
-- A person's preferences; admin skipped onboarding (as the JSON string Devtron writes).
INSERT INTO public.user_attributes (email_id, user_data)
SELECT email_id, json_build_object('SkippedOnboarding', (id = 2)::text,
                                   'theme', CASE WHEN id % 3 = 0 THEN 'dark' ELSE 'light' END)
FROM public.users WHERE user_type IS NULL AND active;

-- step: settings
INSERT INTO public.attributes (key, value, active)
VALUES ('url', 'https://devtron.example.com', true), ('HelmAppAccessCounter', '4182', true),
       ('ChartStoreVisitCount', '913', true), ('HelmAppUpdateCounter', '77', true);
INSERT INTO public.attributes (key, value, active)
SELECT 'setting-' || g, repeat('v', 40), g % 5 <> 0 FROM generate_series(1, 20) AS g;
INSERT INTO public.sso_login_config (name, active, config)
VALUES ('google', true, repeat('x', 600)), ('github', false, repeat('y', 600));
INSERT INTO public.module (name, version, status)
VALUES ('cicd', 'v0.7.0', 'installed'), ('argo-cd', 'v0.7.0', 'installed'),
       ('security.trivy', 'v0.7.0', 'installed'), ('security.clair', 'v0.7.0', 'notInstalled'),
       ('notifier', 'v0.7.0', 'installFailed'), ('monitoring.grafana', 'v0.7.0', 'installed'),
       ('velero', 'v0.7.0', 'timeout'), ('fluxcd', 'v0.7.0', 'installing');
INSERT INTO public.git_provider (name, url, active, deleted)
SELECT 'provider-' || g, 'git' || g || '.example.com', g % 4 <> 0, g % 7 = 0
FROM generate_series(1, 20) AS g;
INSERT INTO public.gitops_config (provider, active) VALUES ('GITHUB', true), ('GITLAB', false);
INSERT INTO public.docker_artifact_store (id, registry_url, active)
SELECT 'registry-' || g, 'registry' || g || '.example.com', g % 6 <> 0
FROM generate_series(1, 30) AS g;
INSERT INTO public.plugin_parent_metadata (name, identifier, type, deleted, is_exposed)
SELECT 'plugin-' || g, 'plugin-' || g, CASE WHEN g % 4 = 0 THEN 'PRESET' ELSE 'SHARED' END,
       g % 10 = 0, g % 9 <> 0
FROM generate_series(1, 100) AS g;
INSERT INTO public.plugin_tag (name, deleted)
SELECT 'tag-' || g, g % 5 = 0 FROM generate_series(1, 10) AS g;
INSERT INTO public.global_policy (name, policy_of, version, policy_json, enabled, deleted)
SELECT 'policy-' || g,
       (ARRAY['DEPLOYMENT_WINDOW', 'APPROVAL', 'PLUGIN', 'LOCK_CONFIGURATION'])[1 + g % 4], 'v1',
       repeat('{}', 50), true, g % 8 = 0
FROM generate_series(1, 50) AS g;
INSERT INTO public.resource_filter (name, target_object, condition_expression, deleted)
SELECT 'filter-' || g, 0, 'containerImage.contains("prod")', g % 5 = 0
FROM generate_series(1, 20) AS g;
INSERT INTO public.resource_qualifier_mapping_criteria (description, json_data, active)
SELECT 'criteria ' || g, '{}', true FROM generate_series(1, 100) AS g;
INSERT INTO public.resource_qualifier_mapping (resource_id, resource_type, qualifier_id, active)
SELECT 1 + g % 60, g % 3, g % 5, g % 10 <> 0 FROM generate_series(1, 2000) AS g;
-- Deployment charts: each in many versions, only the newest active.
INSERT INTO public.chart_ref (location, version, name, active, is_default)
SELECT lower(replace(name, ' ', '-')) || '_' || v, v || '.0.0', name, false, false
FROM unnest(ARRAY['Deployment', 'Rollout Deployment', 'StatefulSet', 'Job & CronJob']) AS name,
     generate_series(1, 10) AS v;

-- step: installed apps
-- Chart-store (Helm) apps: one installation per app of type 1, each with a version or two.
INSERT INTO public.app_store_application_version (id, version, name)
SELECT g, '1.' || (g % 40) || '.0', 'chart-' || (g % 700) FROM generate_series(1, 5000) AS g;
INSERT INTO public.installed_apps (id, app_id, environment_id, active, status, notes)
SELECT row_number() OVER (ORDER BY id), id,
       1 + floor(pg_temp.setting('environments') * pg_temp.u(id, 100))::int,
       pg_temp.u(id, 101) < 0.9,
       CASE WHEN pg_temp.u(id, 102) < 0.8 THEN 6 ELSE 3 END,
       CASE WHEN pg_temp.u(id, 103) < 0.1 THEN 'installed for the ' || app_name END
FROM public.app WHERE app_type = 1;
INSERT INTO public.installed_app_versions (installed_app_id, app_store_application_version_id,
                                           active)
SELECT i.id, 1 + floor(5000 * pg_temp.u(i.id * 2 + v, 104))::int, v = 1
FROM public.installed_apps i, generate_series(1, 2) AS v
WHERE v = 1 OR pg_temp.u(i.id, 105) < 0.5;

-- step: app configuration
-- Per Devtron app or job: its git materials, build configuration and template, charts, labels,
-- a workflow or two, a note now and then, and its app-level ConfigMaps.
INSERT INTO public.git_material (app_id, git_provider_id, url, active, filter_pattern)
SELECT a.id, 1, 'https://git.example.com/' || a.app_name || '/' || m, pg_temp.u(a.id, 110 + m) < 0.95,
       CASE WHEN pg_temp.u(a.id, 115 + m) < 0.85 THEN '[]'::json
            WHEN pg_temp.u(a.id, 115 + m) < 0.95 THEN '["src/**", "!docs/**"]'::json
            ELSE 'null'::json END
FROM public.app a, generate_series(1, 3) AS m
WHERE a.app_type IN (0, 2) AND (m = 1 OR pg_temp.u(a.id, 120 + m) < 0.15);
INSERT INTO public.ci_build_config (id, type, build_metadata)
SELECT a.id,
       CASE WHEN pg_temp.u(a.id, 125) < 0.6 THEN 'self-dockerfile-build'
            WHEN pg_temp.u(a.id, 125) < 0.85 THEN 'managed-dockerfile-build'
            ELSE 'buildpack-build' END,
       CASE WHEN pg_temp.u(a.id, 125) >= 0.6
            THEN json_build_object('language',
                     (ARRAY['Go', 'Java', 'Node', 'Python', 'PHP', 'Ruby'])[1 + (a.id % 6)])::text
       END
FROM public.app a WHERE a.app_type IN (0, 2);
INSERT INTO public.ci_template (app_id, docker_registry_id, active, ci_build_config_id)
SELECT a.id, 'registry-1', pg_temp.u(a.id, 126) < 0.97, a.id
FROM public.app a WHERE a.app_type IN (0, 2);
INSERT INTO public.charts (app_id, chart_ref_id, chart_name, active)
SELECT a.id,
       CASE WHEN v = 1 THEN 1 + floor(5 * pg_temp.u(a.id, 127))::int
            ELSE 7 + floor(40 * pg_temp.u(a.id, 128))::int END,
       'chart', v = 1
FROM public.app a, generate_series(1, 2) AS v
WHERE a.app_type = 0 AND (v = 1 OR pg_temp.u(a.id, 129) < 0.3);
INSERT INTO public.app_label (app_id, key, value, propagate)
SELECT a.id, 'label-' || l, 'value-' || (a.id % 17), pg_temp.u(a.id, 130 + l) < 0.4
FROM public.app a, generate_series(1, 3) AS l
WHERE pg_temp.u(a.id, 134 + l) < 0.6;
INSERT INTO public.generic_note (identifier, identifier_type, description)
SELECT a.id, 1, CASE WHEN pg_temp.u(a.id, 138) < 0.9 THEN repeat('# Runbook ', 30) ELSE ' ' END
FROM public.app a WHERE pg_temp.u(a.id, 139) < 0.1;
INSERT INTO public.app_workflow (id, name, app_id, active)
SELECT a.id + (w - 1) * pg_temp.setting('apps'), 'workflow-' || w, a.id,
       w = 1 OR pg_temp.u(a.id, 141) < 0.8
FROM public.app a, generate_series(1, 2) AS w
WHERE a.app_type IN (0, 2) AND (w = 1 OR pg_temp.u(a.id, 140) < 0.2);
INSERT INTO public.config_map_app_level (app_id, config_map_data)
SELECT a.id,
       CASE WHEN pg_temp.u(a.id, 143) < 0.1 THEN '{"maps":null}'
            ELSE json_build_object('maps', json_build_array(
                     json_build_object('name', 'cm-' || a.id, 'type', 'environment',
                                       'external', pg_temp.u(a.id, 144) < 0.3,
                                       'data', json_build_object('LOG_LEVEL', 'info'))))::text
       END
FROM public.app a WHERE a.app_type = 0 AND pg_temp.u(a.id, 142) < 0.5;

-- step: pipeline configuration
-- Per CI and CD pipeline: its place in the app's first workflow; per CD pipeline an environment
-- override (patch or replace) and, for a third, environment-level ConfigMaps.
INSERT INTO public.app_workflow_mapping (type, component_id, parent_id, app_workflow_id, active)
SELECT 'CI_PIPELINE', id, NULL, app_id, NOT deleted FROM public.ci_pipeline
UNION ALL
SELECT 'CD_PIPELINE', p.id, p.ci_pipeline_id, p.app_id, NOT p.deleted FROM public.pipeline p;
INSERT INTO public.chart_env_config_override (chart_id, target_environment, env_override_yaml,
                                              active, merge_strategy)
SELECT p.app_id, p.environment_id, '{"replicaCount": 2}', NOT p.deleted,
       CASE WHEN pg_temp.u(p.id, 150) < 0.7 THEN 'replace'
            WHEN pg_temp.u(p.id, 150) < 0.9 THEN 'patch' END
FROM public.pipeline p WHERE pg_temp.u(p.id, 151) < 0.5;
INSERT INTO public.config_map_env_level (app_id, environment_id, config_map_data, deleted)
SELECT DISTINCT ON (p.app_id, p.environment_id) p.app_id, p.environment_id,
       CASE WHEN pg_temp.u(p.id, 153) < 0.1 THEN '{"maps":null}'
            ELSE json_build_object('maps', json_build_array(
                     json_build_object('name', 'env-cm-' || p.id,
                                       'external', pg_temp.u(p.id, 154) < 0.3)))::text
       END,
       p.deleted
FROM public.pipeline p WHERE pg_temp.u(p.id, 152) < 0.33
ORDER BY p.app_id, p.environment_id, p.id;

