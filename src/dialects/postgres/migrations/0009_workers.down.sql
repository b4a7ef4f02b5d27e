-- Undoes 0009: the registry of live workers.
DROP TABLE {{schema}}"{{name}}_workers";
