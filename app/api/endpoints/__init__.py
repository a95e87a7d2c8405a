"""One module per group of endpoints; each holds an APIRouter."""
