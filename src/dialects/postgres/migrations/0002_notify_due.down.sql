-- Undoes 0002: workers poll instead of being woken.
DROP TRIGGER "{{name}}_notify_due" ON {{table}};

DROP FUNCTION {{schema}}"{{name}}_notify_due"();
