-- Undoes 0001: the table, with its indexes, its triggers and every attempt in it.
DROP TABLE {{table}};
