"""One cell (method, task, dataset, gap) and its seeds as one Sacred run."""
