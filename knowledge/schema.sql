-- archagent knowledge store, schema version 2 (knowledge/store.py upgrades a version-1 store in place). One store holds many campaigns.
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
    extra TEXT NOT NULL DEFAULT '{}',  -- free-form notes; no code branches on them
    -- schema v2: what used to live in `extra`, as typed columns
    seed_name TEXT,  -- seeds: the task's seed file it came from
    island INTEGER,  -- the population island its parents came from (NULL: shared by every island)
    operator TEXT,  -- how it was made (rewrite, edit, crossover, mutation, repair, ...); NULL: unknown
    repair_of INTEGER REFERENCES candidates(id),  -- the failed candidate this one repairs
    matched_on TEXT,  -- duplicates: the key that matched (text_key | code_key | graph_key)
    features TEXT NOT NULL DEFAULT '{}',  -- static features of the built model (probe)
    history TEXT NOT NULL DEFAULT '[]',  -- per-epoch training curve
    low_fidelity_metric REAL,  -- staged fidelity: the short run's metric
    low_fidelity_epochs INTEGER,
    predicted_metric REAL,  -- the pre-filter's learned prediction
    epsilon INTEGER,  -- 1: trained by the pre-filter's ε draw, not its rank
    prefilter_reason TEXT,  -- the pre-filter's decision, in words
    heartbeat REAL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_cand_campaign_status ON candidates(campaign_id, status);
CREATE INDEX IF NOT EXISTS idx_cand_text_key ON candidates(campaign_id, text_key);
CREATE INDEX IF NOT EXISTS idx_cand_code_key ON candidates(campaign_id, code_key);
CREATE INDEX IF NOT EXISTS idx_cand_graph_key ON candidates(campaign_id, graph_key);
CREATE INDEX IF NOT EXISTS idx_cand_island ON candidates(campaign_id, island);
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
