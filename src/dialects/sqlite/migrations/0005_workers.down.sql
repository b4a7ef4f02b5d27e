-- Undoes 0005: the registry of live workers.
DROP TABLE "{{name}}_workers";
