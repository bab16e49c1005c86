-- The Devtron orchestrator tables that the documented Summary reads, shaped as Devtron's own
-- migrations leave them (reference §7): real names, types, NOT NULL flags and defaults, and no
-- index beyond the primary keys and users.email_unique. Only the columns the reference names are
-- here; a real installation has many more. Seeds are the rows every fresh installation has.

CREATE TABLE public.users (
    id                              serial PRIMARY KEY,
    fname                           text,
    lname                           text,
    password                        text,
    access_token                    text,
    email_id                        varchar(100) NOT NULL,
    active                          boolean NOT NULL DEFAULT true,
    user_type                       varchar(250),  -- NULL for people, 'apiToken' for API tokens
    timeout_window_configuration_id integer,
    request_email_id                varchar(256),
    created_on                      timestamp without time zone,
    created_by                      integer,
    updated_on                      timestamp without time zone,
    updated_by                      integer
);
CREATE UNIQUE INDEX email_unique ON public.users (email_id);

CREATE TABLE public.cluster (
    id                 serial PRIMARY KEY,
    cluster_name       varchar(250) NOT NULL,
    active             boolean NOT NULL,
    is_virtual_cluster boolean,
    is_prod            boolean DEFAULT false,
    server_url         varchar(250),
    config             json,
    created_on         timestamp with time zone NOT NULL,
    created_by         integer NOT NULL,
    updated_on         timestamp with time zone NOT NULL,
    updated_by         integer NOT NULL
);

CREATE TABLE public.environment (
    id                     serial PRIMARY KEY,
    environment_name       varchar(250) NOT NULL,
    cluster_id             integer NOT NULL REFERENCES public.cluster (id),
    active                 boolean NOT NULL DEFAULT true,
    "default"              boolean NOT NULL DEFAULT false,  -- true: a production environment
    namespace              varchar(250),
    environment_identifier varchar(250) NOT NULL,
    is_virtual_environment boolean,
    created_on             timestamp with time zone NOT NULL,
    created_by             integer NOT NULL,
    updated_on             timestamp with time zone NOT NULL,
    updated_by             integer NOT NULL
);

CREATE TABLE public.team (
    id         serial PRIMARY KEY,
    name       varchar(250) NOT NULL,
    active     boolean NOT NULL,
    created_on timestamp with time zone NOT NULL,
    created_by integer NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    updated_by integer NOT NULL
);

CREATE TABLE public.app (
    id                serial PRIMARY KEY,
    app_name          varchar(250) NOT NULL,
    active            boolean NOT NULL,
    team_id           integer REFERENCES public.team (id),
    app_type          integer NOT NULL DEFAULT 0,  -- 0 Devtron CI/CD app, 1 Helm app, 2 job
    app_store         boolean DEFAULT false,
    app_offering_mode varchar(50) NOT NULL DEFAULT 'FULL',
    description       text,
    display_name      varchar(250),
    created_on        timestamp with time zone NOT NULL,
    created_by        integer NOT NULL,
    updated_on        timestamp with time zone NOT NULL,
    updated_by        integer NOT NULL
);

CREATE TABLE public.ci_pipeline (
    id               serial PRIMARY KEY,
    app_id           integer REFERENCES public.app (id),
    ci_template_id   integer,
    name             varchar(250),
    active           boolean NOT NULL,
    deleted          boolean NOT NULL,
    ci_pipeline_type varchar(75),
    manual           boolean NOT NULL DEFAULT false,
    scan_enabled     boolean NOT NULL DEFAULT false,
    created_on       timestamp with time zone NOT NULL,
    created_by       integer NOT NULL,
    updated_on       timestamp with time zone NOT NULL,
    updated_by       integer NOT NULL
);

-- CD pipelines: soft-deleted by `deleted` (no default), and there is no `active` column.
CREATE TABLE public.pipeline (
    id                  serial PRIMARY KEY,
    app_id              integer REFERENCES public.app (id),
    ci_pipeline_id      integer REFERENCES public.ci_pipeline (id),
    environment_id      integer REFERENCES public.environment (id),
    trigger_type        varchar(250) NOT NULL,
    pipeline_name       varchar(250) NOT NULL,
    deleted             boolean NOT NULL,
    deployment_app_type varchar(50),
    created_on          timestamp with time zone NOT NULL,
    created_by          integer NOT NULL,
    updated_on          timestamp with time zone NOT NULL,
    updated_by          integer NOT NULL
);

-- Seeds: ids are fixed as in Devtron, so the sequences are moved past them.
INSERT INTO public.users (id, email_id, active, user_type, created_on, created_by, updated_on, updated_by)
VALUES (1, 'system', true, NULL, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC', 1),
       (2, 'admin', true, NULL, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC', 1);
SELECT setval(pg_get_serial_sequence('public.users', 'id'), 2);

INSERT INTO public.cluster (id, cluster_name, active, is_virtual_cluster, server_url, config,
                            created_on, created_by, updated_on, updated_by)
VALUES (1, 'default_cluster', true, false, 'https://kubernetes.default.svc', '{}', now(), 1, now(), 1);
SELECT setval(pg_get_serial_sequence('public.cluster', 'id'), 1);

INSERT INTO public.team (id, name, active, created_on, created_by, updated_on, updated_by)
VALUES (1, 'devtron-demo', true, now(), 1, now(), 1);
SELECT setval(pg_get_serial_sequence('public.team', 'id'), 1);

INSERT INTO public.environment (id, environment_name, cluster_id, active, "default", namespace,
                                environment_identifier, is_virtual_environment,
                                created_on, created_by, updated_on, updated_by)
VALUES (1, 'devtron-demo', 1, true, false, 'devtron-demo', 'default_cluster__devtron-demo', false,
        now(), 1, now(), 1);
SELECT setval(pg_get_serial_sequence('public.environment', 'id'), 1);

-- The tables and columns the extended Summary reads (reference §8), with Devtron's types,
-- nullability and defaults. Seeds are the rows every fresh installation has.

CREATE TABLE public.attributes (
    id         serial PRIMARY KEY,
    key        varchar(250) NOT NULL,
    value      varchar(10000) NOT NULL,
    active     boolean NOT NULL,
    created_on timestamp with time zone NOT NULL DEFAULT now(),
    created_by integer NOT NULL DEFAULT 1,
    updated_on timestamp with time zone NOT NULL DEFAULT now(),
    updated_by integer NOT NULL DEFAULT 1
);

CREATE TABLE public.user_attributes (
    email_id   varchar(500) NOT NULL PRIMARY KEY,
    user_data  json NOT NULL,
    created_on timestamp with time zone NOT NULL DEFAULT now(),
    created_by integer NOT NULL DEFAULT 1,
    updated_on timestamp with time zone NOT NULL DEFAULT now(),
    updated_by integer NOT NULL DEFAULT 1
);

CREATE TABLE public.sso_login_config (
    id         serial PRIMARY KEY,
    name       varchar(250),
    active     boolean NOT NULL DEFAULT true,
    config     text,
    created_on timestamp with time zone NOT NULL DEFAULT now(),
    created_by integer NOT NULL DEFAULT 1,
    updated_on timestamp with time zone NOT NULL DEFAULT now(),
    updated_by integer NOT NULL DEFAULT 1
);

CREATE TABLE public.module (
    id         serial PRIMARY KEY,
    name       varchar(255) NOT NULL UNIQUE,
    version    varchar(255) NOT NULL DEFAULT '',
    status     varchar(255) NOT NULL,
    updated_on timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE public.user_audit (
    id         serial PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES public.users (id),
    client_ip  varchar(256),
    created_on timestamp with time zone,
    updated_on timestamp with time zone
);
CREATE INDEX user_audit_user_id_idx ON public.user_audit (user_id);

CREATE TABLE public.installed_apps (
    id             serial PRIMARY KEY,
    app_id         integer REFERENCES public.app (id),
    environment_id integer REFERENCES public.environment (id),
    active         boolean DEFAULT true,
    status         integer NOT NULL DEFAULT 0,  -- 6: DEPLOY_SUCCESS
    notes          text,
    created_on     timestamp with time zone NOT NULL DEFAULT now(),
    created_by     integer NOT NULL DEFAULT 1,
    updated_on     timestamp with time zone NOT NULL DEFAULT now(),
    updated_by     integer NOT NULL DEFAULT 1
);

CREATE TABLE public.app_store_application_version (
    id      serial PRIMARY KEY,
    version varchar(250),
    name    varchar(250)
);

CREATE TABLE public.installed_app_versions (
    id                               serial PRIMARY KEY,
    installed_app_id                 integer REFERENCES public.installed_apps (id),
    app_store_application_version_id integer REFERENCES public.app_store_application_version (id),
    active                           boolean DEFAULT true
);

CREATE TABLE public.ci_workflow (
    id             serial PRIMARY KEY,
    name           varchar(256),
    status         varchar(50),
    message        text,
    started_on     timestamp with time zone,
    finished_on    timestamp with time zone,
    ci_pipeline_id integer NOT NULL REFERENCES public.ci_pipeline (id),
    ci_build_type  varchar(100),
    git_triggers   json,
    triggered_by   integer NOT NULL DEFAULT 1
);

CREATE TABLE public.cd_workflow (
    id          serial PRIMARY KEY,
    ci_artifact_id integer,
    pipeline_id integer NOT NULL REFERENCES public.pipeline (id),
    workflow_status varchar(256),
    created_on  timestamp with time zone NOT NULL DEFAULT now(),
    created_by  integer NOT NULL DEFAULT 1,
    updated_on  timestamp with time zone NOT NULL DEFAULT now(),
    updated_by  integer NOT NULL DEFAULT 1
);
CREATE INDEX cd_workflow_pipeline_id_idx ON public.cd_workflow (pipeline_id);

CREATE TABLE public.cd_workflow_runner (
    id             serial PRIMARY KEY,
    name           varchar(256) NOT NULL DEFAULT '',
    workflow_type  varchar(256) NOT NULL,  -- PRE, DEPLOY, POST
    executor_type  varchar(256),
    status         varchar(256),
    message        text,
    started_on     timestamp with time zone,
    finished_on    timestamp with time zone,
    cd_workflow_id integer NOT NULL REFERENCES public.cd_workflow (id),
    triggered_by   integer NOT NULL DEFAULT 1
);
CREATE INDEX cd_workflow_runner_cd_workflow_id_idx ON public.cd_workflow_runner (cd_workflow_id);

CREATE TABLE public.git_provider (
    id         serial PRIMARY KEY,
    name       varchar(250) NOT NULL,
    url        varchar(250) NOT NULL,
    active     boolean NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    created_on timestamp with time zone NOT NULL DEFAULT now(),
    created_by integer NOT NULL DEFAULT 1,
    updated_on timestamp with time zone NOT NULL DEFAULT now(),
    updated_by integer NOT NULL DEFAULT 1
);

CREATE TABLE public.gitops_config (
    id       serial PRIMARY KEY,
    provider varchar(250) NOT NULL,
    active   boolean NOT NULL
);

CREATE TABLE public.docker_artifact_store (
    id             varchar(250) PRIMARY KEY,
    registry_url   varchar(250),
    active         boolean NOT NULL,
    is_default     boolean NOT NULL DEFAULT false
);

CREATE TABLE public.git_material (
    id             serial PRIMARY KEY,
    app_id         integer REFERENCES public.app (id),
    git_provider_id integer REFERENCES public.git_provider (id),
    url            varchar(250),
    active         boolean NOT NULL,
    filter_pattern json DEFAULT '[]'
);

CREATE TABLE public.ci_build_config (
    id             serial PRIMARY KEY,
    type           varchar(100),
    build_metadata text
);

CREATE TABLE public.ci_template (
    id                 serial PRIMARY KEY,
    app_id             integer UNIQUE REFERENCES public.app (id),
    docker_registry_id varchar(250),
    active             boolean,
    ci_build_config_id integer REFERENCES public.ci_build_config (id)
);

CREATE TABLE public.chart_ref (
    id       serial PRIMARY KEY,
    location varchar(250),
    version  varchar(250),
    name     varchar(250) NOT NULL,
    active   boolean,
    is_default boolean
);

CREATE TABLE public.charts (
    id           serial PRIMARY KEY,
    app_id       integer REFERENCES public.app (id),
    chart_ref_id integer NOT NULL REFERENCES public.chart_ref (id),
    chart_name   varchar(250),
    active       boolean NOT NULL
);

CREATE TABLE public.plugin_parent_metadata (
    id         serial PRIMARY KEY,
    name       varchar(255) NOT NULL,
    identifier varchar(255) NOT NULL,
    type       varchar(255),  -- SHARED or PRESET
    deleted    boolean NOT NULL,
    is_exposed boolean NOT NULL DEFAULT true
);

CREATE TABLE public.plugin_tag (
    id      serial PRIMARY KEY,
    name    varchar(255) NOT NULL,
    deleted boolean
);

CREATE TABLE public.global_policy (
    id          serial PRIMARY KEY,
    name        varchar(200),
    policy_of   varchar(100),
    version     varchar(20),
    description text,
    policy_json text,
    enabled     boolean,
    deleted     boolean
);

CREATE TABLE public.resource_filter (
    id          serial PRIMARY KEY,
    name        varchar(300) NOT NULL,
    target_object integer,
    condition_expression text,
    deleted     boolean NOT NULL
);

CREATE TABLE public.resource_qualifier_mapping (
    id            serial PRIMARY KEY,
    resource_id   integer,
    resource_type integer,
    qualifier_id  integer,
    identifier_key integer,
    identifier_value_int integer,
    active        boolean NOT NULL
);

CREATE TABLE public.resource_qualifier_mapping_criteria (
    id            serial PRIMARY KEY,
    description   text,
    json_data     text,
    active        boolean
);

CREATE TABLE public.app_label (
    id        serial PRIMARY KEY,
    app_id    integer NOT NULL REFERENCES public.app (id),
    key       varchar(255) NOT NULL,
    value     varchar(255) NOT NULL,
    propagate boolean NOT NULL DEFAULT true
);
CREATE INDEX app_label_app_id_idx ON public.app_label (app_id);

CREATE TABLE public.generic_note (
    id              serial PRIMARY KEY,
    identifier      integer NOT NULL,
    identifier_type integer,  -- 0 cluster, 1 app
    description     text NOT NULL
);

CREATE TABLE public.app_workflow (
    id     serial PRIMARY KEY,
    name   varchar(100) NOT NULL,
    app_id integer NOT NULL REFERENCES public.app (id),
    active boolean
);

CREATE TABLE public.app_workflow_mapping (
    id              serial PRIMARY KEY,
    type            varchar(100),  -- CI_PIPELINE, CD_PIPELINE, WEBHOOK
    component_id    integer,
    parent_id       integer,
    app_workflow_id integer NOT NULL REFERENCES public.app_workflow (id),
    active          boolean
);

CREATE TABLE public.chart_env_config_override (
    id                 serial PRIMARY KEY,
    chart_id           integer,
    target_environment integer REFERENCES public.environment (id),
    env_override_yaml  text,
    active             boolean NOT NULL,
    merge_strategy     varchar(100)  -- patch or replace
);

CREATE TABLE public.config_map_app_level (
    id              serial PRIMARY KEY,
    app_id          integer NOT NULL UNIQUE REFERENCES public.app (id),
    config_map_data text,
    secret_data     text
);

CREATE TABLE public.config_map_env_level (
    id              serial PRIMARY KEY,
    app_id          integer NOT NULL REFERENCES public.app (id),
    environment_id  integer NOT NULL REFERENCES public.environment (id),
    config_map_data text,
    secret_data     text,
    deleted         boolean,
    UNIQUE (app_id, environment_id)
);

INSERT INTO public.git_provider (id, name, url, active)
VALUES (1, 'Github Public', 'github.com', true);
SELECT setval(pg_get_serial_sequence('public.git_provider', 'id'), 1);

INSERT INTO public.plugin_parent_metadata (name, identifier, type, deleted)
VALUES ('K6 Load testing', 'k6-load-testing', 'PRESET', false),
       ('Sonarqube', 'sonarqube', 'PRESET', false),
       ('Dependency track', 'dependency-track', 'PRESET', false),
       ('Semgrep', 'semgrep', 'PRESET', false);

INSERT INTO public.plugin_tag (name, deleted)
SELECT tag, false FROM unnest(ARRAY['Security', 'Image source', 'Release', 'Testing', 'CI task',
    'Code quality', 'Kubernetes', 'Load testing', 'Code Review', 'GitOps', 'Cloud', 'Database',
    'Notification', 'Utilities', 'DevSecOps']) AS tag;

INSERT INTO public.global_policy (name, policy_of, version, deleted)
VALUES ('release-1', 'RELEASE_STATUS', 'v1', false),
       ('release-2', 'RELEASE_ACTION_CHECK', 'v1', false),
       ('release-3', 'RELEASE_STATUS', 'v1', false);

INSERT INTO public.chart_ref (location, version, name, active, is_default)
VALUES ('reference-chart_4-18-0', '4.18.0', 'Deployment', true, true),
       ('reference-chart_4-17-0', '4.17.0', 'Deployment', false, false),
       ('reference-chart_5-0-0', '5.0.0', 'Rollout Deployment', true, false),
       ('statefulset-chart_5-0-0', '5.0.0', 'StatefulSet', true, false),
       ('cronjob-chart_1-5-0', '1.5.0', 'Job & CronJob', true, false),
       ('cronjob-chart_1-2-0', '1.2.0', 'CronJob & Job', false, false);
