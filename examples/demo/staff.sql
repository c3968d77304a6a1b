-- The demo's source database: a staff table as an HR system might hold it.
CREATE TABLE staff (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  full_name TEXT NOT NULL,
  office TEXT,
  role TEXT,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
INSERT INTO staff VALUES
  (1, 'ann.lee@acme.test', 'Ann Lee', 'London', 'Engineer', '2024-03-01T09:00:00.000Z', NULL),
  (2, 'bob.stone@acme.test', 'Bob Stone', 'Paris', 'Designer', '2024-03-01T09:00:00.000Z', NULL),
  (3, 'chloe.ng@acme.test', 'Chloé Ng', 'Dublin', 'Manager', '2024-03-01T09:00:00.000Z', NULL),
  (4, 'dev.patel@acme.test', 'Dev Patel', 'London', 'Engineer', '2024-03-01T09:00:00.000Z', NULL),
  (5, 'eva.rossi@acme.test', 'Eva Rossi', 'Milan', 'Sales', '2024-03-01T09:00:00.000Z', NULL),
  (6, 'finn.obrien@acme.test', 'Finn O''Brien', 'Dublin', 'Support', '2024-03-01T09:00:00.000Z', NULL),
  (7, 'gina.muller@acme.test', 'Gina Müller', 'Berlin', 'Engineer', '2024-03-01T09:00:00.000Z', NULL),
  (8, 'hugo.silva@acme.test', 'Hugo Silva', 'Lisbon', 'Finance', '2024-03-01T09:00:00.000Z', NULL),
  (9, 'iris.chen@acme.test', 'Iris Chen', 'London', 'Designer', '2024-03-01T09:00:00.000Z', NULL),
  (10, 'jon.berg@acme.test', 'Jon Berg', 'Oslo', 'Sales', '2024-03-01T09:00:00.000Z', NULL);
