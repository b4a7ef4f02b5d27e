-- Undoes 0004: the starts of rate-limited queues.
DROP TABLE "{{name}}_starts";
