-- Undoes 0004: the per-queue lock rows of flow control.
DROP TABLE {{flow}};
