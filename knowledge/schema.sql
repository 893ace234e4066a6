-- archagent knowledge store, schema version 3 (knowledge/store.py upgrades version-1 and -2 stores in place). One store holds many campaigns.
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
    idea TEXT,  -- schema v3: the idea card (prompts/ideas/<id>.toml, or the user's) the proposal was asked to apply
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
CREATE INDEX IF NOT EXISTS idx_cand_idea ON candidates(campaign_id, idea);

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
-- Scale (issue 18): indexes for paginated pages and top-N queries, and small tables triggers keep current,
-- so status/budget counts and children lookups never scan a campaign's candidates.
CREATE INDEX IF NOT EXISTS idx_cand_campaign ON candidates(campaign_id);  -- a campaign's rows in id order
-- top-N / leaderboards sort trained rows by metric (task direction), then params, then id: one index per
-- direction, so LIMIT stops after N rows
CREATE INDEX IF NOT EXISTS idx_cand_status_metric_up ON candidates(campaign_id, status, metric, params, id);
CREATE INDEX IF NOT EXISTS idx_cand_status_metric_down ON candidates(campaign_id, status, metric DESC, params, id);
CREATE INDEX IF NOT EXISTS idx_cand_params ON candidates(campaign_id, params);
CREATE INDEX IF NOT EXISTS idx_cand_flops ON candidates(campaign_id, flops);
CREATE INDEX IF NOT EXISTS idx_cand_test ON candidates(campaign_id, test_metric);
CREATE INDEX IF NOT EXISTS idx_cand_llm_call ON candidates(llm_call_id);
CREATE INDEX IF NOT EXISTS idx_cand_backend ON candidates(campaign_id, backend);
CREATE INDEX IF NOT EXISTS idx_calls_campaign_purpose ON llm_calls(campaign_id, purpose, backend);

-- candidate_parents: one row per (child, parent) edge of candidates.parent_ids (position 0 = first parent).
CREATE TABLE IF NOT EXISTS candidate_parents (
    child_id INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    parent_id INTEGER NOT NULL,
    PRIMARY KEY (child_id, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_parents_parent ON candidate_parents(parent_id, child_id);
CREATE TRIGGER IF NOT EXISTS trg_parents_ins AFTER INSERT ON candidates BEGIN
    INSERT OR REPLACE INTO candidate_parents SELECT new.id, key, value FROM json_each(new.parent_ids);
END;
CREATE TRIGGER IF NOT EXISTS trg_parents_upd AFTER UPDATE OF parent_ids ON candidates BEGIN
    DELETE FROM candidate_parents WHERE child_id = old.id;
    INSERT OR REPLACE INTO candidate_parents SELECT new.id, key, value FROM json_each(new.parent_ids);
END;
CREATE TRIGGER IF NOT EXISTS trg_parents_del AFTER DELETE ON candidates BEGIN
    DELETE FROM candidate_parents WHERE child_id = old.id;
END;

-- status_counts: candidates per (campaign, status, is-seed); campaign_llm_totals: LLM usage per campaign.
CREATE TABLE IF NOT EXISTS status_counts (
    campaign_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, status, seed)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS trg_counts_ins AFTER INSERT ON candidates BEGIN
    INSERT INTO status_counts VALUES (new.campaign_id, new.status, new.backend = 'seed', 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_counts_upd AFTER UPDATE OF status, backend, campaign_id ON candidates
    WHEN old.status IS NOT new.status OR old.backend IS NOT new.backend OR old.campaign_id IS NOT new.campaign_id BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE campaign_id = old.campaign_id AND status = old.status AND seed = (old.backend = 'seed');
    INSERT INTO status_counts VALUES (new.campaign_id, new.status, new.backend = 'seed', 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_counts_del AFTER DELETE ON candidates BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE campaign_id = old.campaign_id AND status = old.status AND seed = (old.backend = 'seed');
END;

CREATE TABLE IF NOT EXISTS campaign_llm_totals (
    campaign_id INTEGER PRIMARY KEY,
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    llm_seconds REAL NOT NULL
);
CREATE TRIGGER IF NOT EXISTS trg_totals_ins AFTER INSERT ON llm_calls BEGIN
    INSERT INTO campaign_llm_totals VALUES (new.campaign_id, 1, new.prompt_tokens + new.completion_tokens,
                                            new.cost_usd, new.latency_s)
        ON CONFLICT DO UPDATE SET calls = calls + 1, tokens = tokens + excluded.tokens,
            cost_usd = cost_usd + excluded.cost_usd, llm_seconds = llm_seconds + excluded.llm_seconds;
END;
CREATE TRIGGER IF NOT EXISTS trg_totals_upd AFTER UPDATE OF prompt_tokens, completion_tokens, cost_usd, latency_s
    ON llm_calls BEGIN
    UPDATE campaign_llm_totals SET
        tokens = tokens - old.prompt_tokens - old.completion_tokens + new.prompt_tokens + new.completion_tokens,
        cost_usd = cost_usd - old.cost_usd + new.cost_usd, llm_seconds = llm_seconds - old.latency_s + new.latency_s
        WHERE campaign_id = new.campaign_id;
END;

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
