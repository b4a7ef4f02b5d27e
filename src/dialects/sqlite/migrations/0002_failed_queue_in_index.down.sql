-- Undoes 0002: the index of failed and expired attempts without their queue.
DROP INDEX "{{name}}_finished_badly_idx";

CREATE INDEX "{{name}}_finished_badly_idx" ON {{table}} (status, id)
  WHERE status IN ('failed', 'expired');
