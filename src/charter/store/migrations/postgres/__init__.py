"""The PostgreSQL registry's migrations, one file each: ``mNNNN_name.py`` brings schema NNNN-1 to NNNN."""
