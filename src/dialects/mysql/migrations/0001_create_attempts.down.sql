-- Undoes 0001: the table, with its indexes and every attempt in it.
DROP TABLE {{table}};
