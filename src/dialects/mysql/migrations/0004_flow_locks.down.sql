-- Undoes 0004: the per-queue lock rows of flow control and the starts of rate limits.
DROP TABLE {{flow}};
DROP TABLE {{starts}};
