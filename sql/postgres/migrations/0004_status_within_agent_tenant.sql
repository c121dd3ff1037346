-- dendrux schema v4 for PostgreSQL: status within an agent and within a tenant.
--
-- The dashboard's counts by status are asked with the list's filters, and a
-- tenant principal always filters by its tenant. Without these indexes a count
-- of one status within one agent or tenant read every run of the status to
-- check the agent (0.4-1.6 s at a million runs); with them each count is a
-- range of one index, stopped at the cap. They also serve listing one agent's
-- or one tenant's runs of one status, newest first. (Built in the migration's
-- transaction: on a large store, run `dendrux db upgrade` when a few seconds of
-- blocked writes are acceptable.)

CREATE INDEX ix_agent_runs_agent_status_created
    ON agent_runs (agent_name, status, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_tenant_status_created
    ON agent_runs (tenant_id, status, created_at DESC, id DESC);
