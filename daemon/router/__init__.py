"""The centralised router's core: routes, subject trie, mailboxes, subscriptions, workers."""
