// placeholder while under construction
