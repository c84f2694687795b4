"""``gazebench predict``: a model on the user's own images and videos (docs/predict.md).

One module per job:

* :mod:`~gazebench.predict.inputs`: image files, folders of images and videos (PyAV) -> sequences
  of frames;
* :mod:`~gazebench.predict.crops`: where the head is in a frame (the whole frame, a crop file or
  a detector) and the crop resized as the training path resizes a dataset's image;
* :mod:`~gazebench.predict.detectors`: the face/head detector plugins (``DETECTORS``);
* :mod:`~gazebench.predict.landmarks`: the facial landmarker plugins (``LANDMARKERS``, MediaPipe's);
* :mod:`~gazebench.predict.facepose`: the head pose by PnP on ETH-XGaze's six-point face model;
* :mod:`~gazebench.predict.normalise`: the normalised face patch of a checkpoint trained on normalised
  faces, and its gaze back in the camera frame;
* :mod:`~gazebench.predict.windows`: the frame window of a sequence model, streamed, with the
  training path's padding rule;
* :mod:`~gazebench.predict.predictors`: the model, from a run, a registered name or a published
  checkpoint;
* :mod:`~gazebench.predict.infer`: batched prediction through :func:`gazebench.train.engine.predict_batches`;
* :mod:`~gazebench.predict.drawing`: the gaze arrow on an image;
* :mod:`~gazebench.predict.output`: ``gaze.csv``, ``gaze.json``, the drawn PNGs and MP4s.
"""
