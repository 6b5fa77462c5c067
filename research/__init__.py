"""Research apart from the product: the evaluation grid of model variants, oracle references,
the follow-up planner against simpler rules, and every experiment knob. Run by
``python -m research``; it imports app, bayes and storage, and nothing imports it."""
