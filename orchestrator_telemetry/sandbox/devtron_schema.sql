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
