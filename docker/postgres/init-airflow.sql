-- Run once by the postgres image on an empty data volume, as POSTGRES_USER (anon_ops):
-- a separate database for Airflow's metadata beside anon-ops' job store (database anon_ops).
CREATE DATABASE airflow;
