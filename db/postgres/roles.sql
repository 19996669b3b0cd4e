-- An application role for TrialGate on PostgreSQL without the power to
-- change or remove audit entries. Run as a superuser after `gateway migrate`
-- (which should itself run as the schema owner), then give the gateway's
-- `serve` a URL that logs in as trialgate_app. Adjust the password.
--
-- The triggers already refuse UPDATE, DELETE and TRUNCATE on the audit
-- tables for every role; revoking the privileges as well means a compromised
-- application account cannot even disable that check by accident.

CREATE ROLE trialgate_app LOGIN PASSWORD 'change-me';
GRANT USAGE ON SCHEMA public TO trialgate_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO trialgate_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO trialgate_app;

-- The trail itself: append and read only.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM trialgate_app;
-- Heads only move forward (the sequencer updates them); never removed.
REVOKE DELETE, TRUNCATE ON audit_head FROM trialgate_app;
-- The queue is drained by the sequencer (DELETE of chained entries only,
-- enforced by a trigger); never updated or truncated.
REVOKE UPDATE, TRUNCATE ON audit_queue FROM trialgate_app;
-- Accounts and grants are never removed, only given new states.
REVOKE DELETE, TRUNCATE ON users, grants, sessions FROM trialgate_app;
-- Schema history is append-only too.
REVOKE UPDATE, DELETE, TRUNCATE ON schema_migrations FROM trialgate_app;
-- Trial data is never removed: definitions, submissions, instances and QC
-- results only gain new states (their triggers say which); QC results are
-- never updated either.
REVOKE DELETE, TRUNCATE ON trials, trial_versions, submissions, instances, qc_results FROM trialgate_app;
REVOKE UPDATE ON qc_results FROM trialgate_app;
-- Affiliations and reads likewise: rows gain states, never go; signed
-- versions, case time points and releases never change at all.
REVOKE DELETE, TRUNCATE ON user_affiliations, read_cases, read_case_timepoints, read_tasks, read_versions, read_releases
	FROM trialgate_app;
REVOKE UPDATE ON read_case_timepoints, read_versions, read_releases FROM trialgate_app;
