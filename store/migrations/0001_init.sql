-- Policy store schema, version 1.
--
-- Every table has a version column for optimistic concurrency. Statement
-- triggers on each table bump the single store revision and send it on the
-- ecsauthz_store channel, so watchers reload once per changing statement.
-- NOTIFY is delivered at commit, so a watcher never sees half of a
-- transaction.

CREATE TABLE policies (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    document    text NOT NULL CHECK (document::jsonb IS NOT NULL),
    version     bigint NOT NULL DEFAULT 1
);

CREATE TABLE users (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    domain_id   text NOT NULL,
    domain_name text NOT NULL DEFAULT '',
    root        boolean NOT NULL DEFAULT false,
    version     bigint NOT NULL DEFAULT 1
);

-- "groups" is a reserved word in PostgreSQL, hence user_groups.
CREATE TABLE user_groups (
    id        text PRIMARY KEY,
    name      text NOT NULL,
    domain_id text NOT NULL,
    version   bigint NOT NULL DEFAULT 1
);

CREATE TABLE memberships (
    group_id text NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version  bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (group_id, user_id)
);

-- A grant's key is all of its fields (see store.GrantKey). policy has no
-- foreign key because grants may name built-in policies.
CREATE TABLE grants (
    key      text PRIMARY KEY,
    policy   text NOT NULL,
    group_id text REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  text REFERENCES users (id) ON DELETE CASCADE,
    scope    text NOT NULL CHECK (scope IN ('domain', 'project', 'enterprise_project', 'global')),
    scope_id text NOT NULL DEFAULT '',
    version  bigint NOT NULL DEFAULT 1,
    CHECK ((group_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX grants_policy ON grants (policy);

CREATE TABLE servers (
    id                    text PRIMARY KEY,
    project_id            text NOT NULL,
    enterprise_project_id text NOT NULL DEFAULT '0',
    tags                  jsonb NOT NULL DEFAULT '{}',
    version               bigint NOT NULL DEFAULT 1
);

CREATE TABLE store_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision  bigint NOT NULL
);
INSERT INTO store_revision (revision) VALUES (0);

-- ecsauthz_bump_revision bumps the revision and notifies watchers.
-- ecsauthz_rows_changed does so only when the statement changed a row,
-- so that a conditional write that matched nothing is no change.
CREATE FUNCTION ecsauthz_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    UPDATE store_revision SET revision = revision + 1 RETURNING revision INTO r;
    PERFORM pg_notify('ecsauthz_store', r::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION ecsauthz_rows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM changed_rows) THEN
        UPDATE store_revision SET revision = revision + 1 RETURNING revision INTO r;
        PERFORM pg_notify('ecsauthz_store', r::text);
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['policies', 'users', 'user_groups', 'memberships', 'grants', 'servers'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION ecsauthz_rows_changed()', t || '_inserted', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION ecsauthz_rows_changed()', t || '_updated', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION ecsauthz_rows_changed()', t || '_deleted', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION ecsauthz_bump_revision()', t || '_truncated', t);
    END LOOP;
END
$$;
