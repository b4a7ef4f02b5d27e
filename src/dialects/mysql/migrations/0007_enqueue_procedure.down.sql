-- Undoes 0007: the procedure enqueueing from SQL.
DROP PROCEDURE IF EXISTS {{enqueue}};
