-- The bot's tables, as the seed's diagnostic queries read them (monitoring.md, "Query database for diagnostics").
-- Loaded once by the local stack's PostgreSQL (docker-entrypoint-initdb.d); the demo bot writes the rows.

-- Singleton lock of the bot: one row per lock, heartbeat every 30 s; older than 60 s means the lock is stale.
CREATE TABLE IF NOT EXISTS lock_heartbeat (
    lock_name      text PRIMARY KEY,
    holder         text        NOT NULL,          -- instance that holds the lock
    acquired_at    timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now()
);

-- Generation jobs: SELECT id, user_id, status, created_at, completed_at FROM jobs ORDER BY created_at DESC
CREATE TABLE IF NOT EXISTS jobs (
    id           bigserial PRIMARY KEY,
    user_id      bigint      NOT NULL,            -- Telegram user id
    model        text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_created_at ON jobs (created_at DESC);

-- Balance movements, kept forever (legal requirement for payments):
-- SELECT user_id, amount, type, description, created_at FROM transactions ORDER BY created_at DESC
CREATE TABLE IF NOT EXISTS transactions (
    id          bigserial PRIMARY KEY,
    user_id     bigint         NOT NULL,
    amount      numeric(12, 2) NOT NULL,          -- positive: top-up or refund; negative: charge
    type        text           NOT NULL CHECK (type IN ('topup', 'charge', 'refund')),
    description text           NOT NULL DEFAULT '',
    created_at  timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS transactions_created_at ON transactions (created_at DESC);
CREATE INDEX IF NOT EXISTS transactions_user ON transactions (user_id, created_at DESC);
