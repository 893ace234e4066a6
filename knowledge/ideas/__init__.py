"""The idea library (the cognition base): short cards distilled from the architecture literature.

    cards = load_cards(user_folder)                      # cards.py: packaged prompts/ideas/*.toml + the user's
    gaps = shortcomings(parent, children, budget, tried)  # signals.py: what limits the parent
    outcomes = card_outcomes(rows, objective, higher)     # outcomes.py: this campaign's record per card
    picked = retrieve(index, gaps, outcomes, k)           # search.py: FTS5 bm25, then weighted by outcomes
"""
