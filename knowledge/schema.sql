-- archagent knowledge store, schema version 1. One store holds many campaigns.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    config_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running',
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    purpose TEXT NOT NULL,
    prompt TEXT NOT NULL,
    reply TEXT NOT NULL DEFAULT '',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    error TEXT,
    created TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    code TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_ids TEXT NOT NULL DEFAULT '[]',
    backend TEXT NOT NULL DEFAULT '',
    llm_call_id INTEGER REFERENCES llm_calls(id),
    text_key TEXT,
    code_key TEXT,
    graph_key TEXT,
    duplicate_of INTEGER REFERENCES candidates(id),
    failure_kind TEXT,
    failure_msg TEXT,
    metric REAL,
    test_metric REAL,
    params INTEGER,
    flops INTEGER,
    prefilter_score REAL,
    proxies TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    heartbeat REAL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_cand_campaign_status ON candidates(campaign_id, status);
CREATE INDEX IF NOT EXISTS idx_cand_text_key ON candidates(campaign_id, text_key);
CREATE INDEX IF NOT EXISTS idx_cand_code_key ON candidates(campaign_id, code_key);
CREATE INDEX IF NOT EXISTS idx_cand_graph_key ON candidates(campaign_id, graph_key);
CREATE INDEX IF NOT EXISTS idx_calls_campaign ON llm_calls(campaign_id);

-- Lessons an analyst LLM distilled from finished candidates; shared by every campaign on the task.
CREATE TABLE IF NOT EXISTS insights (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    task TEXT NOT NULL,
    text TEXT NOT NULL,
    candidate_ids TEXT NOT NULL DEFAULT '[]',
    llm_call_id INTEGER REFERENCES llm_calls(id),
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_insights_task ON insights(task, id);

-- One row per `archagent run` of a campaign: who ran it and how it ended (the reason, when it failed).
CREATE TABLE IF NOT EXISTS campaign_runs (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    outcome TEXT,  -- finished | failed | interrupted; NULL while running (or after a kill -9)
    reason TEXT
);
CREATE INDEX IF NOT EXISTS idx_runs_campaign ON campaign_runs(campaign_id, id);

-- Final evaluation (`archagent final`): the top candidates retrained with several training seeds.
-- One row per finished (candidate, seed, epochs) run; `weights` is a safetensors blob (tensors only).
CREATE TABLE IF NOT EXISTS final (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    candidate_id INTEGER NOT NULL REFERENCES candidates(id),
    seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT 'candidate',
    status TEXT NOT NULL,
    failure_kind TEXT,
    failure_msg TEXT,
    metric REAL,
    test_metric REAL,
    params INTEGER,
    train_s REAL,
    preds_sample TEXT NOT NULL DEFAULT '[]',
    weights BLOB,
    created TEXT NOT NULL,
    UNIQUE (candidate_id, seed, epochs)
);
CREATE INDEX IF NOT EXISTS idx_final_campaign ON final(campaign_id, candidate_id);
